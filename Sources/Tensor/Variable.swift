/// Whether differentiable ops record the graph. Recording is on by default; inference code wraps
/// itself in ``GradMode/withoutGrad(_:)``. The flag is task-local, so concurrent tasks never
/// see each other's setting (no global mutable state).
public enum GradMode {
    @TaskLocal public static var isEnabled: Bool = true

    /// Runs `body` with graph recording off: results of ops are constants.
    public static func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
        try $isEnabled.withValue(false) { try body() }
    }
}

/// A node of the reverse-mode autodiff graph: a tensor value plus, for op results, the inputs
/// and the rule that maps the output gradient to input gradients.
///
/// The graph is built as ops run (define-by-run, as in PyTorch's autograd): every op result
/// keeps its inputs, and ``backward(_:retainGraph:)`` walks them in reverse topological order —
/// a tape recorded on the values themselves instead of in a shared global list. Leaves created
/// with `requiresGrad: true` (parameters) accumulate their gradient in ``grad``.
public final class Variable {
    /// The value.
    public var value: Tensor
    /// Accumulated gradient of a leaf after ``backward(_:retainGraph:)`` (nil before).
    public var grad: Tensor?
    /// True for parameters and for results that depend on one.
    public private(set) var requiresGrad: Bool
    /// Optional name, used in error messages and checkpoints.
    public var name: String?

    @usableFromInline var parents: [Variable]
    /// Maps the output gradient to one gradient per parent (nil where a parent needs none).
    @usableFromInline var backwardRule: ((Tensor) -> [Tensor?])?

    /// A leaf: a constant, or a parameter when `requiresGrad` is true.
    public init(_ value: Tensor, requiresGrad: Bool = false, name: String? = nil) {
        self.value = value
        self.requiresGrad = requiresGrad
        self.name = name
        self.parents = []
        self.backwardRule = nil
    }

    @usableFromInline init(value: Tensor, parents: [Variable], rule: @escaping (Tensor) -> [Tensor?]) {
        self.value = value
        self.requiresGrad = true
        self.parents = parents
        self.backwardRule = rule
    }

    /// Freezes (false) or unfreezes (true) a parameter: graphs recorded while it is frozen
    /// compute no gradient for it — nor for anything that depends only on frozen leaves and
    /// constants (fine-tuning a branch of a frozen network skips the frozen weights' gradients).
    public func setRequiresGrad(_ flag: Bool) {
        precondition(isLeaf, "only a leaf's requiresGrad can change")
        requiresGrad = flag
    }

    public var shape: [Int] { value.shape }
    public var isLeaf: Bool { backwardRule == nil }

    /// Creates an op result: recorded when grad mode is on and any input requires a gradient,
    /// otherwise a constant. `rule` receives the output gradient and a flag per input saying
    /// whether that input needs a gradient.
    @inlinable
    public static func record(_ value: Tensor, _ inputs: [Variable],
                              _ rule: @escaping (_ grad: Tensor, _ needs: [Bool]) -> [Tensor?]) -> Variable {
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else {
            return Variable(value)
        }
        let needs = inputs.map { $0.requiresGrad }
        return Variable(value: value, parents: inputs) { g in rule(g, needs) }
    }

    /// Reverse-mode differentiation from this variable. `seed` defaults to ones (for a scalar
    /// loss, d loss / d loss = 1). Leaf gradients are accumulated into ``grad``. Unless
    /// `retainGraph`, each node drops its saved tensors as soon as it has been processed, which
    /// keeps the peak memory at activations + live gradients.
    public func backward(_ seed: Tensor? = nil, retainGraph: Bool = false) {
        precondition(requiresGrad, "backward() on a variable that does not require a gradient")
        let start = seed ?? Tensor.ones(value.shape)
        precondition(start.shape == value.shape, "seed shape \(start.shape) != value shape \(value.shape)")

        // Iterative DFS for a topological order (parents before children).
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Variable, Bool)] = [(self, false)]
        while let (v, expanded) = stack.popLast() {
            if expanded { order.append(v); continue }
            if !visited.insert(ObjectIdentifier(v)).inserted { continue }
            stack.append((v, true))
            for p in v.parents where p.requiresGrad && !visited.contains(ObjectIdentifier(p)) {
                stack.append((p, false))
            }
        }

        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): start]
        for v in order.reversed() {
            guard let g = grads.removeValue(forKey: ObjectIdentifier(v)) else { continue }
            guard let rule = v.backwardRule else {
                if v.grad == nil { v.grad = g } else { v.grad!.addScaled(g) }
                continue
            }
            let parentGrads = rule(g)
            precondition(parentGrads.count == v.parents.count, "backward rule returned \(parentGrads.count) gradients for \(v.parents.count) inputs")
            for (p, pg) in zip(v.parents, parentGrads) {
                guard p.requiresGrad, let pg else { continue }
                precondition(pg.shape == p.value.shape,
                             "gradient shape \(pg.shape) != input shape \(p.value.shape)\(p.name.map { " (\($0))" } ?? "")")
                let id = ObjectIdentifier(p)
                if grads[id] == nil { grads[id] = pg } else { grads[id]!.addScaled(pg) }
            }
            if !retainGraph {
                v.backwardRule = nil
                v.parents = []
            }
        }
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// The same value without graph history.
    public func detached() -> Variable { Variable(value) }
}
