import Flow
import Foundation
import HeadAvatar
import Methods

/// The reimplemented baselines (DESIGN.md §6), by id. Adding a baseline is one file with a
/// `VideoEditingMethod` type and one entry here; see Baselines/README.md.
public enum Baselines {
    public static let catalog = MethodCatalog(entries: [
        .init(id: "temporal-ema", summary: "per-frame edits smoothed along time by an exponential moving average (naive, motion-blind)",
              settingKeys: ["alpha"]) { settings in
            let alpha = Float(settings["alpha"] ?? "0.5")
            guard let alpha, alpha > 0, alpha <= 1 else {
                throw MethodError.invalidSetting(method: "temporal-ema", key: "alpha", reason: "must be a number in (0, 1]")
            }
            return TemporalSmoothingMethod(alpha: alpha)
        },
        .init(id: "bonneel2015", summary: "Bonneel et al. 2015 blind temporal consistency: screened Poisson on the edit's gradients and the previous output warped by the source's flow",
              settingKeys: ["lambda", "s", "levels", "iterations", "flow"]) { settings in
            func number(_ key: String, _ fallback: Float, _ valid: (Float) -> Bool, _ rule: String) throws -> Float {
                guard let text = settings[key] else { return fallback }
                guard let v = Float(text), v.isFinite, valid(v) else {
                    throw MethodError.invalidSetting(method: "bonneel2015", key: key, reason: "'\(text)' \(rule)")
                }
                return v
            }
            let lambda = try number("lambda", 0.1, { $0 >= 0 }, "must be a number ≥ 0")
            let s = try number("s", 0.05, { $0 > 0 }, "must be a number > 0")
            let levels = try number("levels", 6, { $0 >= 1 && $0 <= 16 && $0 == $0.rounded() }, "must be a whole number in 1…16")
            let iterations = try number("iterations", 50, { $0 >= 1 && $0 <= 10000 && $0 == $0.rounded() }, "must be a whole number in 1…10000")
            let flow = settings["flow"] ?? "dis-medium"
            do { _ = try FlowMethods.named(flow) } catch {
                throw MethodError.invalidSetting(method: "bonneel2015", key: "flow", reason: "\(error)")
            }
            return BlindTemporalConsistencyMethod(lambda: lambda, sigma: s, levels: Int(levels), iterations: Int(iterations), flowMethod: flow)
        },
        .init(id: "keyframe-propagation", summary: "EbSynth/Rerender-style: key-frame edits every `interval` frames carried both ways along the source's flow, per-pixel choice by guide error, the frame's own edit where both are occluded",
              settingKeys: ["interval", "flow", "patch", "blend"]) { settings in
            var interval = 10
            if let text = settings["interval"] {
                guard let v = Int(text), v >= 1 else {
                    throw MethodError.invalidSetting(method: "keyframe-propagation", key: "interval", reason: "'\(text)' must be a whole number ≥ 1")
                }
                interval = v
            }
            let flow = settings["flow"] ?? "dis-medium"
            do { _ = try FlowMethods.named(flow) } catch {
                throw MethodError.invalidSetting(method: "keyframe-propagation", key: "flow", reason: "\(error)")
            }
            var patch = 5
            if let text = settings["patch"] {
                guard let v = Int(text), v >= 1, v <= 15, v % 2 == 1 else {
                    throw MethodError.invalidSetting(method: "keyframe-propagation", key: "patch", reason: "'\(text)' must be an odd whole number in 1…15")
                }
                patch = v
            }
            let blend = settings["blend"] ?? "poisson"
            guard blend == "poisson" || blend == "none" else {
                throw MethodError.invalidSetting(method: "keyframe-propagation", key: "blend", reason: "'\(blend)' must be poisson or none")
            }
            return KeyframePropagationMethod(interval: interval, flowMethod: flow, patch: patch, blend: blend == "poisson")
        },
        .init(id: "avatar-refit", summary: "3-D lifting (Instruct-NeRF2NeRF / PortraitGen-style): the clip's head avatar fine-tuned on the per-frame edits and rendered, composited over the edit outside the head",
              settingKeys: ["iterations", "parameters"]) { settings in
            var iterations = 200
            if let text = settings["iterations"] {
                guard let v = Int(text), v >= 1, v <= 1_000_000 else {
                    throw MethodError.invalidSetting(method: "avatar-refit", key: "iterations", reason: "'\(text)' must be a whole number in 1…1000000")
                }
                iterations = v
            }
            let text = settings["parameters"] ?? "appearance"
            guard let trainable = AvatarTrainer.TrainableParameters(rawValue: text) else {
                throw MethodError.invalidSetting(method: "avatar-refit", key: "parameters",
                                                 reason: "'\(text)' must be one of \(AvatarTrainer.TrainableParameters.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return AvatarRefitMethod(iterations: iterations, trainable: trainable)
        },
    ])
}
