// The instruction editor: a catalogue of text prompts, each a recipe of region-aware operations,
// applied to every frame independently with seeded per-frame variation.

import Face
import Foundation
import Imaging
import Parallelism
import PortraitData

/// One prompt of the instruction editor's catalogue.
public struct InstructionPrompt: Sendable, Equatable {
    /// The canonical prompt, as listed by `fym-bench edit --list`.
    public let prompt: String
    /// Caption of the intended result, for CLIP directional similarity (the source caption is
    /// ``InstructionEditor/sourceCaption``).
    public let targetCaption: String
    /// The regions the recipe changes (their union is the edit's mask).
    public let regions: [EditRegion]
    /// One line on what the recipe does.
    public let summary: String
    /// Other phrasings that resolve to this prompt (matched after normalisation).
    public let aliases: [String]
    let recipe: Recipe
}

/// The operations behind a prompt.
enum Recipe: Sendable, Equatable {
    case hair(HairColour)
    case bronze, marble, zombie, lipstick, older, glowingEyes, sunset
    case pencil, oil, popArt, cartoon
}

/// A text-driven per-frame editor that behaves like a diffusion instruction editor run frame by
/// frame (InstructPix2Pix-style), built from classic image operations because no diffusion
/// weights can run here.
///
/// A prompt is resolved against a catalogue (``catalogue``; ``prompts`` lists it) after
/// normalisation — case, punctuation, articles and pronouns ("the", "him", "her", …), filler
/// verbs ("make", "turn", "add", …) and plural/-ing endings are ignored, word order does not
/// matter and one extra word is tolerated when that leaves a single match — plus a small grammar
/// for hair colours ("dye her hair green"). Each prompt is a recipe
/// of region-aware operations (``EditRegion``: hair, skin, lips, eyes, head, background, whole
/// image) with masks from the landmarks (``FaceRegions``) and the clip's head masks; frames
/// without landmarks use the nearest frame's landmarks.
///
/// Every frame is edited independently. Its randomness comes from SplitMix64 generators seeded
/// by (request seed, prompt, frame index) and (request seed, prompt); with the consistency knob
/// c = `request.settings["consistency"]` ∈ [0, 1] (default 0) every jittered quantity — colour,
/// strength, filter parameters, mask-boundary shift and growth — is (1 − c)·per-frame + c·per-clip
/// and every texture (strokes, strands, veins, halftone phase) blends a per-frame and a per-clip
/// seed. Textures live in face-anchored coordinates on the head (a similarity to the clip's mean
/// landmark shape), so at c = 1 they move with the face; the stroke textures of the whole-image
/// stylisations take their per-clip part from the frame's own detail (Stylisations.swift), which
/// moves with the scene. c = 0 flickers like an independent diffusion editor, c = 1 is nearly
/// consistent (the warping errors are in docs/notes/2026-12-02-doc-comment-measurements.md).
public struct InstructionEditor: EditingToolWithSettings {
    public typealias RequestSettings = ConsistencyRequestSettings
    /// Bumped whenever a recipe changes its output (part of the cache key).
    public static let catalogueVersion = "1"
    /// The caption of every source clip.
    public static let sourceCaption = "a photo of a person"

    public init() {}

    public var id: String { "instruct" }
    public var settings: [String: String] { ["catalogue": "instruct-v\(InstructionEditor.catalogueVersion)"] }

    /// The canonical prompts (for `fym-bench edit --list`).
    public static var prompts: [String] { catalogue.map(\.prompt) }

    /// ``prompts``, for `fym-bench edit --list`.
    public var knownPrompts: [String] { InstructionEditor.prompts }
    public func validate(prompt: String) throws { _ = try InstructionEditor.resolve(prompt) }

    /// The catalogue.
    public static let catalogue: [InstructionPrompt] = [
        hairEntry(HairColour.named("blue")!, aliases: ["blue hair", "dye the hair blue"]),
        hairEntry(HairColour.named("blonde")!, aliases: ["blonde hair", "blond hair"]),
        hairEntry(HairColour.named("pink")!, aliases: ["pink hair"]),
        InstructionPrompt(prompt: "make him a bronze statue", targetCaption: "a bronze statue of a person", regions: [.head],
                          summary: "head as polished bronze: luma through a bronze ramp, highlights, verdigris patina, casting grain",
                          aliases: ["bronze statue", "bronze", "bronze sculpture", "make her a bronze statue"], recipe: .bronze),
        InstructionPrompt(prompt: "marble statue", targetCaption: "a marble statue of a person", regions: [.head],
                          summary: "head as white marble: smoothed bright shading with turbulent veining",
                          aliases: ["make him a marble statue", "marble sculpture", "marble"], recipe: .marble),
        InstructionPrompt(prompt: "zombie", targetCaption: "a photo of a zombie", regions: [.face],
                          summary: "green-grey skin with bruises, veins and dark eye circles; clouded eyes; dark lips",
                          aliases: ["turn him into a zombie", "undead"], recipe: .zombie),
        InstructionPrompt(prompt: "add red lipstick", targetCaption: "a photo of a person wearing red lipstick", regions: [.lips],
                          summary: "lips recoloured red keeping their shading, with gloss",
                          aliases: ["red lipstick", "lipstick", "red lips"], recipe: .lipstick),
        InstructionPrompt(prompt: "make her look older", targetCaption: "a photo of an old person with wrinkles and grey hair",
                          regions: [.skin, .hair],
                          summary: "wrinkles (forehead, nasolabial folds, crow's feet, eye bags), age spots, desaturated skin, grey hair",
                          aliases: ["older", "old", "aged", "elderly", "make him look older", "make him old"], recipe: .older),
        InstructionPrompt(prompt: "make the eyes glow red", targetCaption: "a photo of a person with glowing red eyes", regions: [.eyes],
                          summary: "irises and pupils turned into an emissive red with a halo",
                          aliases: ["glowing red eyes", "red glowing eyes", "glowing eyes"], recipe: .glowingEyes),
        InstructionPrompt(prompt: "make the background a sunset", targetCaption: "a photo of a person in front of a sunset",
                          regions: [.background],
                          summary: "background (outside head and shoulders) graded into a sunset sky with sun and clouds",
                          aliases: ["sunset background", "sunset", "sunset in the background"], recipe: .sunset),
        InstructionPrompt(prompt: "pencil sketch", targetCaption: "a pencil sketch of a person", regions: [.image],
                          summary: "colour-dodge pencil sketch with tonal hatching on paper",
                          aliases: ["sketch", "pencil drawing", "make it a pencil sketch"], recipe: .pencil),
        InstructionPrompt(prompt: "oil painting", targetCaption: "an oil painting of a person", regions: [.image],
                          summary: "Kuwahara filter, saturation boost and brush strokes along the forms",
                          aliases: ["painting", "oil paint", "make it an oil painting"], recipe: .oil),
        InstructionPrompt(prompt: "pop art", targetCaption: "a pop art portrait of a person", regions: [.image],
                          summary: "Warhol-style posterised flat colours per region, Ben-Day halftone, ink outlines",
                          aliases: ["warhol", "popart", "pop art style"], recipe: .popArt),
        InstructionPrompt(prompt: "cartoon", targetCaption: "a cartoon of a person", regions: [.image],
                          summary: "bilateral smoothing, soft colour quantisation and dark DoG edges",
                          aliases: ["turn him into a cartoon", "cartoonify", "cartoonize", "toon"], recipe: .cartoon),
    ]

    static func hairEntry(_ colour: HairColour, aliases: [String] = []) -> InstructionPrompt {
        InstructionPrompt(prompt: "turn the hair \(colour.name)", targetCaption: "a photo of a person with \(colour.name) hair",
                          regions: [.hair], summary: "hair recoloured \(colour.name) with strand texture (colour-gated hair region)",
                          aliases: aliases, recipe: .hair(colour))
    }

    // MARK: Prompt resolution

    static let stopWords: Set<String> = [
        "the", "a", "an", "him", "her", "them", "his", "hers", "their", "he", "she", "they", "it", "its", "me", "my",
        "make", "turn", "into", "in", "to", "look", "like", "please", "person", "man", "woman", "guy", "girl",
        "of", "with", "change", "give", "add", "put", "apply", "be", "become", "transform", "as", "photo", "picture",
        "image", "portrait", "this", "that", "version", "and", "style", "styled", "dye", "colour", "color", "is",
        "are", "some", "very", "more", "effect", "face",
    ]

    /// The words of `text` that carry meaning: lower-cased, split at non-letters, -ing/-s
    /// endings removed, stop words dropped.
    static func contentWords(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        func flush() {
            guard !current.isEmpty else { return }
            var w = current
            current = ""
            if stopWords.contains(w) { return }
            if w.hasSuffix("ing") && w.count > 5 { w.removeLast(3) } else if w.hasSuffix("s") && w.count > 3 && !w.hasSuffix("ss") { w.removeLast() }
            if !stopWords.contains(w) { words.append(w) }
        }
        for ch in text.lowercased() {
            if ch.isLetter || ch.isNumber { current.append(ch) } else { flush() }
        }
        flush()
        return words
    }

    /// The order-free key of a phrase.
    static func key(_ text: String) -> String { Set(contentWords(text)).sorted().joined(separator: " ") }

    static let index: [String: InstructionPrompt] = {
        var out: [String: InstructionPrompt] = [:]
        for entry in catalogue {
            for phrase in [entry.prompt] + entry.aliases { out[key(phrase)] = entry }
        }
        return out
    }()

    /// The catalogue entry a prompt asks for. Accepts the listed prompts, their aliases, close
    /// paraphrases (see the type's documentation) and "hair" + one colour of the hair palette
    /// (blue, blonde, pink, red, green, purple, orange, white, grey, black).
    public static func resolve(_ prompt: String) throws(EditError) -> InstructionPrompt {
        let k = key(prompt)
        if let entry = index[k] { return entry }
        let words = Set(contentWords(prompt))
        // One extra word is tolerated ("add red lipstick to her lips") when dropping it leaves
        // exactly one catalogue entry; colour words are never dropped ("blue and green hair").
        if words.count > 1 {
            let droppable = words.filter { HairColour.named($0) == nil && !LightingPrompt.colourNames.contains($0) }
            let matches = Set(droppable.compactMap { w in index[words.subtracting([w]).sorted().joined(separator: " ")]?.prompt })
            if matches.count == 1, let entry = catalogue.first(where: { $0.prompt == matches.first! }) { return entry }
        }
        if words.contains("hair") {
            let rest = words.subtracting(["hair"])
            if rest.count == 1, let colour = HairColour.named(rest.first!) {
                return catalogue.first { $0.recipe == .hair(colour) } ?? hairEntry(colour)
            }
        }
        throw EditError.unknownPrompt(prompt, known: prompts)
    }

    /// A stable 64-bit hash of a string (FNV-1a), so prompts get distinct random streams.
    static func stableHash(_ text: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    // MARK: Editing

    public func edit(frames: [Image], clip: ClipMetadata, landmarks: [[SIMD2<Double>]?], masks: [Image],
                     request: EditRequest) throws -> EditResult {
        let entry = try InstructionEditor.resolve(request.prompt)
        let consistency = try ConsistencyRequestSettings.request(request.settings).consistency
        guard let first = frames.first else { throw EditingToolError.noFrames }
        let filled = filledLandmarks(landmarks, count: frames.count)
        let haveMasks = masks.count >= frames.count
        let needsFace = entry.regions.contains { r in
            r.needsLandmarks && !(haveMasks && r == .background)
        } || (entry.recipe == .bronze || entry.recipe == .marble) && !haveMasks
        if filled == nil && needsFace {
            throw EditingToolError.noLandmarks(clip: clip.address, prompt: request.prompt)
        }
        let refIOD = referenceIOD(filled, width: first.width, height: first.height)
        let refShape = meanShape(filled)
        let stream = InstructionEditor.stableHash(entry.prompt)
        var outFrames = [Image?](repeating: nil, count: frames.count)
        var outMasks = [Image?](repeating: nil, count: frames.count)
        outFrames.withUnsafeMutableBufferPointer { fo in
            outMasks.withUnsafeMutableBufferPointer { mo in
                Parallel.forEach(frames.count, costPerItem: first.planeSize * 400) { t in
                    let frame = EditFrame(index: t, source: frames[t], landmarks: filled?[t],
                                          headMask: haveMasks ? masks[t] : nil, referenceIOD: refIOD,
                                          referenceShape: refShape)
                    var jitter = EditJitter(seed: request.seed, stream: stream, frame: t, consistency: consistency)
                    let (image, mask) = InstructionEditor.apply(entry.recipe, to: frame, jitter: &jitter)
                    fo[t] = image.clamped(to: 0...1)
                    mo[t] = mask
                }
            }
        }
        var settings = self.settings
        settings["consistency"] = String(consistency)
        settings["resolved_prompt"] = entry.prompt
        settings["regions"] = entry.regions.map(\.rawValue).joined(separator: ",")
        return EditResult(frames: outFrames.map { $0! }, prompt: request.prompt, sourceCaption: InstructionEditor.sourceCaption,
                          targetCaption: entry.targetCaption, seed: request.seed, masks: outMasks.map { $0! },
                          tool: id, settings: settings)
    }

    static func apply(_ recipe: Recipe, to f: EditFrame, jitter j: inout EditJitter) -> (Image, Image) {
        switch recipe {
        case let .hair(colour): return RegionEdits.hair(f, colour: colour, j: &j)
        case .bronze: return RegionEdits.bronze(f, j: &j)
        case .marble: return RegionEdits.marble(f, j: &j)
        case .zombie: return RegionEdits.zombie(f, j: &j)
        case .lipstick: return RegionEdits.lipstick(f, colour: (0.8, 0.05, 0.12), j: &j)
        case .older: return RegionEdits.older(f, j: &j)
        case .glowingEyes: return RegionEdits.glowingEyes(f, colour: (1.0, 0.12, 0.05), j: &j)
        case .sunset: return RegionEdits.sunset(f, j: &j)
        case .pencil: return Stylisations.pencil(f, j: &j)
        case .oil: return Stylisations.oil(f, j: &j)
        case .popArt: return Stylisations.popArt(f, j: &j)
        case .cartoon: return Stylisations.cartoon(f, j: &j)
        }
    }
}
