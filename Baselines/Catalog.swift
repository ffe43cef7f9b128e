import Methods

/// The reimplemented baselines (ARCHITECTURE.md §6), by id. Adding a baseline is one file with a
/// ``CatalogMethod`` type and one line here; see Baselines/README.md.
public enum Baselines {
    public static let catalog = MethodCatalog(entries: [
        .method(TemporalSmoothingMethod.self),
        .method(BlindTemporalConsistencyMethod.self),
        .method(KeyframePropagationMethod.self),
        .method(AvatarRefitMethod.self),
        .method(DeepVideoPriorMethod.self),
        .method(ConsistentAvatarMethod.self),
    ])
}
