import Foundation
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
    ])
}
