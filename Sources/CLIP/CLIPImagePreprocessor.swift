import Foundation
import Imaging
import Parallelism

/// CLIP image preprocessing as Hugging Face transformers' `CLIPImageProcessor`
/// (`models/clip/image_processing_clip.py`) does it: convert to RGB (alpha dropped, gray
/// replicated), resize so the shorter side is `shortest_edge` (the longer one is
/// `int(shortest_edge · long / short)`, truncated) with Pillow's resampling on 8-bit images
/// (`resample` 3 = `BICUBIC`, Keys kernel a = −0.5, support widened by the downscale factor,
/// 22-bit fixed-point weights and 8-bit rounding after each pass — exactly
/// `libImaging/Resample.c`), centre-crop (`top = (h − crop_h) / 2` floored), rescale by
/// `rescale_factor` (1/255) and normalise with `image_mean` / `image_std` (the OpenAI values by
/// default). Output is planar CHW Float32, the layout of `pixel_values`.
///
/// Float images are first quantised to 8 bits (`round(v·255)`), as transformers receives PIL
/// images or uint8 arrays.
public struct CLIPImagePreprocessor: Sendable, Equatable {
    public var doConvertRGB: Bool = true
    public var doResize: Bool = true
    /// Target length of the shorter side (`size.shortest_edge`). When `resizeTo` is set instead
    /// (`size = {height, width}`), images are resized to exactly that size.
    public var shortestEdge: Int = 224
    public var resizeTo: (height: Int, width: Int)? = nil
    /// Pillow resampling filter code: 1 LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX, 5 HAMMING.
    public var resample: Int = 3
    public var doCenterCrop: Bool = true
    public var cropHeight: Int = 224
    public var cropWidth: Int = 224
    public var doRescale: Bool = true
    public var rescaleFactor: Double = 1.0 / 255.0
    public var doNormalize: Bool = true
    public var imageMean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public var imageStd: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// The OpenAI CLIP defaults for `imageSize` (224 for the released models).
    public init(imageSize: Int = 224) {
        shortestEdge = imageSize
        cropHeight = imageSize
        cropWidth = imageSize
    }

    public static func == (a: CLIPImagePreprocessor, b: CLIPImagePreprocessor) -> Bool {
        a.doConvertRGB == b.doConvertRGB && a.doResize == b.doResize && a.shortestEdge == b.shortestEdge
            && a.resizeTo?.height == b.resizeTo?.height && a.resizeTo?.width == b.resizeTo?.width
            && a.resample == b.resample && a.doCenterCrop == b.doCenterCrop && a.cropHeight == b.cropHeight
            && a.cropWidth == b.cropWidth && a.doRescale == b.doRescale && a.rescaleFactor == b.rescaleFactor
            && a.doNormalize == b.doNormalize && a.imageMean == b.imageMean && a.imageStd == b.imageStd
    }

    /// Reads `preprocessor_config.json` (keys absent take the defaults above, with `imageSize`
    /// as the default size and crop).
    public static func load(path: String, imageSize: Int = 224) throws(CLIPError) -> CLIPImagePreprocessor {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIPError.missingFile(path: path, hint: CLIPError.downloadHint)
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CLIPError.unreadable(path: path, reason: error.localizedDescription)
        }
        return try CLIPImagePreprocessor(jsonData: data, path: path, imageSize: imageSize)
    }

    /// Parses the contents of a `preprocessor_config.json`.
    public init(jsonData: Data, path: String = "preprocessor_config.json", imageSize: Int = 224) throws(CLIPError) {
        self.init(imageSize: imageSize)
        let root: [String: Any]
        do {
            guard let o = try JSONSerialization.jsonObject(with: jsonData) as? [String: Any] else {
                throw CLIPError.unreadable(path: path, reason: "the JSON is not an object")
            }
            root = o
        } catch let e as CLIPError { throw e } catch {
            throw CLIPError.unreadable(path: path, reason: "invalid JSON: \(error.localizedDescription)")
        }
        func bad(_ key: String, _ detail: String) -> CLIPError { .badConfig(path: path, key: key, detail: detail) }
        func bool(_ key: String) throws(CLIPError) -> Bool? {
            guard let v = root[key], !(v is NSNull) else { return nil }
            guard let b = v as? Bool else { throw bad(key, "expected true or false, got \(v)") }
            return b
        }
        func positiveInt(_ v: Any, _ key: String) throws(CLIPError) -> Int {
            guard let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded(), n.intValue >= 1 else {
                throw bad(key, "expected a positive integer, got \(v)")
            }
            return n.intValue
        }
        func triple(_ key: String) throws(CLIPError) -> [Float]? {
            guard let v = root[key], !(v is NSNull) else { return nil }
            if let n = v as? NSNumber { return [Float](repeating: n.floatValue, count: 3) }
            guard let a = v as? [Any], a.count == 3 else { throw bad(key, "expected three numbers, got \(v)") }
            var out: [Float] = []
            for x in a {
                guard let n = x as? NSNumber else { throw bad(key, "expected three numbers, got \(v)") }
                out.append(n.floatValue)
            }
            return out
        }
        doConvertRGB = try bool("do_convert_rgb") ?? doConvertRGB
        doResize = try bool("do_resize") ?? doResize
        doCenterCrop = try bool("do_center_crop") ?? doCenterCrop
        doRescale = try bool("do_rescale") ?? doRescale
        doNormalize = try bool("do_normalize") ?? doNormalize
        if let v = root["size"], !(v is NSNull) {
            if v is NSNumber {
                shortestEdge = try positiveInt(v, "size")
            } else if let d = v as? [String: Any] {
                if let s = d["shortest_edge"] {
                    shortestEdge = try positiveInt(s, "size.shortest_edge")
                } else if let h = d["height"], let w = d["width"] {
                    resizeTo = (try positiveInt(h, "size.height"), try positiveInt(w, "size.width"))
                } else {
                    throw bad("size", "expected shortest_edge or height and width, got \(v)")
                }
            } else {
                throw bad("size", "expected an integer or an object, got \(v)")
            }
        }
        if let v = root["crop_size"], !(v is NSNull) {
            if v is NSNumber {
                cropHeight = try positiveInt(v, "crop_size"); cropWidth = cropHeight
            } else if let d = v as? [String: Any], let h = d["height"], let w = d["width"] {
                cropHeight = try positiveInt(h, "crop_size.height"); cropWidth = try positiveInt(w, "crop_size.width")
            } else {
                throw bad("crop_size", "expected an integer or {height, width}, got \(v)")
            }
        }
        if let v = root["resample"], !(v is NSNull) {
            let r = try positiveInt(v, "resample")
            guard PillowResampler.Filter(rawValue: r) != nil else {
                throw bad("resample", "unsupported Pillow filter \(r); supported are 1 (LANCZOS), 2 (BILINEAR), 3 (BICUBIC), 4 (BOX), 5 (HAMMING)")
            }
            resample = r
        }
        if let v = root["rescale_factor"], !(v is NSNull) {
            guard let n = v as? NSNumber, n.doubleValue > 0 else { throw bad("rescale_factor", "expected a positive number, got \(v)") }
            rescaleFactor = n.doubleValue
        }
        imageMean = try triple("image_mean") ?? imageMean
        imageStd = try triple("image_std") ?? imageStd
        if imageStd.contains(where: { $0 == 0 }) { throw bad("image_std", "contains zero") }
    }

    /// Output size (height, width) of ``pixelValues(_:)`` for a `width`×`height` input.
    public func outputSize(width: Int, height: Int) -> (height: Int, width: Int) {
        if doCenterCrop { return (cropHeight, cropWidth) }
        if doResize { let r = resizedSize(width: width, height: height); return (r.height, r.width) }
        return (height, width)
    }

    /// transformers' `get_resize_output_image_size(default_to_square=False)`.
    public func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        if let r = resizeTo { return (r.width, r.height) }
        let short = min(width, height), long = max(width, height)
        let newLong = Int(Double(shortestEdge) * Double(long) / Double(short))
        return width <= height ? (shortestEdge, newLong) : (newLong, shortestEdge)
    }

    /// The RGB 8-bit image after resizing and cropping, interleaved HWC (for inspection).
    public func processedRGB8(_ image: Image) -> (pixels: [UInt8], width: Int, height: Int) {
        var img = image
        if img.channels != 3 { img = img.toRGB() }
        var w = img.width, h = img.height
        var rgb = img.toUInt8Interleaved()
        if doResize {
            let target = resizedSize(width: w, height: h)
            rgb = PillowResampler.resize(rgb, width: w, height: h, channels: 3,
                                         newWidth: target.width, newHeight: target.height,
                                         filter: PillowResampler.Filter(rawValue: resample) ?? .bicubic)
            w = target.width; h = target.height
        }
        if doCenterCrop {
            rgb = CLIPImagePreprocessor.centerCrop(rgb, width: w, height: h, cropWidth: cropWidth, cropHeight: cropHeight)
            w = cropWidth; h = cropHeight
        }
        return (rgb, w, h)
    }

    /// `pixel_values` of one image: planar [3, H, W] Float32.
    public func pixelValues(_ image: Image) -> [Float] {
        let (rgb, w, h) = processedRGB8(image)
        let plane = w * h
        var out = [Float](repeating: 0, count: 3 * plane)
        let mean = imageMean, std = imageStd
        let scale = doRescale ? rescaleFactor : 1
        let normalize = doNormalize
        rgb.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<3 {
                    let m = mean[c], s = std[c]
                    for i in 0..<plane {
                        // transformers: float64 rescale, cast to float32, then float32 normalise.
                        var v = Float(Double(src[i * 3 + c]) * scale)
                        if normalize { v = (v - m) / s }
                        dst[c * plane + i] = v
                    }
                }
            }
        }
        return out
    }

    /// `pixel_values` of several images packed `[count, 3, H, W]` (all must give the same size,
    /// which holds whenever centre-cropping is on).
    public func pixelValues(_ images: [Image]) -> [Float] {
        var out: [Float] = []
        for (i, im) in images.enumerated() {
            let v = pixelValues(im)
            if i > 0 { precondition(v.count == out.count / i, "CLIPImagePreprocessor: images give different sizes; enable centre-cropping") }
            out.append(contentsOf: v)
        }
        return out
    }

    /// transformers' `center_crop` on an interleaved RGB buffer: `top = (h − ch) / 2`,
    /// `left = (w − cw) / 2` (floored); a crop larger than the image is zero-padded around it.
    static func centerCrop(_ rgb: [UInt8], width w: Int, height h: Int, cropWidth cw: Int, cropHeight ch: Int) -> [UInt8] {
        if cw == w && ch == h { return rgb }
        var out = [UInt8](repeating: 0, count: cw * ch * 3)
        // Offsets of the crop in the (possibly padded) image, as transformers computes them.
        let padW = max(cw, w), padH = max(ch, h)
        let offX = (padW - w) / 2, offY = (padH - h) / 2   // image inside the padded canvas
        let top = (padH - ch) / 2, left = (padW - cw) / 2
        for y in 0..<ch {
            let sy = y + top - offY
            guard sy >= 0 && sy < h else { continue }
            for x in 0..<cw {
                let sx = x + left - offX
                guard sx >= 0 && sx < w else { continue }
                for c in 0..<3 { out[(y * cw + x) * 3 + c] = rgb[(sy * w + sx) * 3 + c] }
            }
        }
        return out
    }
}

/// Pillow's separable resampling of 8-bit images (`libImaging/Resample.c`: `precompute_coeffs`,
/// `normalize_coeffs_8bpc`, `ImagingResampleHorizontal_8bpc` / `Vertical_8bpc`): double-precision
/// filter weights normalised to sum 1, converted to 22-bit fixed point, accumulated with a
/// rounding offset and clipped to 0…255 after each pass (horizontal first).
enum PillowResampler {
    enum Filter: Int, Sendable {
        case lanczos = 1, bilinear = 2, bicubic = 3, box = 4, hamming = 5

        var support: Double {
            switch self {
            case .box: return 0.5
            case .bilinear, .hamming: return 1
            case .bicubic: return 2
            case .lanczos: return 3
            }
        }

        func weight(_ x: Double) -> Double {
            switch self {
            case .box: return (x > -0.5 && x <= 0.5) ? 1 : 0
            case .bilinear: let t = abs(x); return t < 1 ? 1 - t : 0
            case .hamming:
                let t = abs(x)
                if t == 0 { return 1 }
                if t >= 1 { return 0 }
                let px = t * Double.pi
                return sin(px) / px * (0.54 + 0.46 * cos(px))
            case .bicubic:
                let a = -0.5, t = abs(x)
                if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
                if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
                return 0
            case .lanczos:
                func sinc(_ v: Double) -> Double { v == 0 ? 1 : sin(v * Double.pi) / (v * Double.pi) }
                return (x > -3 && x < 3) ? sinc(x) * sinc(x / 3) : 0
            }
        }
    }

    static let precisionBits = 32 - 8 - 2

    /// Fixed-point coefficients for one axis: output i reads `count[i]` inputs from `start[i]`.
    struct Coefficients {
        var start: [Int], count: [Int], weights: [Int32], stride: Int
    }

    static func coefficients(inSize: Int, outSize: Int, filter: Filter) -> Coefficients {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var start = [Int](repeating: 0, count: outSize)
        var count = [Int](repeating: 0, count: outSize)
        var weights = [Int32](repeating: 0, count: outSize * ksize)
        var k = [Double](repeating: 0, count: ksize)
        let ss = 1 / filterScale
        let one = Double(1 << precisionBits)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            var xmin = Int((center - support + 0.5).rounded(.towardZero))
            if xmin < 0 { xmin = 0 }
            var xmax = Int((center + support + 0.5).rounded(.towardZero))
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            var ww = 0.0
            for x in 0..<xmax {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                ww += w
            }
            for x in 0..<xmax {
                let w = ww != 0 ? k[x] / ww : k[x]
                // normalize_coeffs_8bpc: round half away from zero via a truncating cast.
                weights[xx * ksize + x] = Int32((w < 0 ? -0.5 + w * one : 0.5 + w * one).rounded(.towardZero))
            }
            start[xx] = xmin
            count[xx] = xmax
        }
        return Coefficients(start: start, count: count, weights: weights, stride: ksize)
    }

    @inline(__always) static func clip8(_ v: Int64) -> UInt8 {
        if v >= Int64(1) << (precisionBits + 8) { return 255 }
        if v <= 0 { return 0 }
        return UInt8(truncatingIfNeeded: v >> Int64(precisionBits))
    }

    /// Resizes interleaved 8-bit `channels`-channel pixels; an unchanged axis is skipped, as in
    /// Pillow.
    static func resize(_ src: [UInt8], width: Int, height: Int, channels: Int, newWidth: Int, newHeight: Int,
                       filter: Filter) -> [UInt8] {
        var cur = src
        var w = width
        if newWidth != width {
            let co = coefficients(inSize: width, outSize: newWidth, filter: filter)
            var out = [UInt8](repeating: 0, count: newWidth * height * channels)
            let rounding = Int64(1) << Int64(precisionBits - 1)
            cur.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { d in
                    co.weights.withUnsafeBufferPointer { wt in
                        Parallel.forChunks(height, costPerItem: newWidth * co.stride * channels) { rows in
                            for y in rows {
                                for x in 0..<newWidth {
                                    let xmin = co.start[x], n = co.count[x], kb = x * co.stride
                                    for c in 0..<channels {
                                        var acc = rounding
                                        for t in 0..<n {
                                            acc += Int64(s[(y * width + xmin + t) * channels + c]) * Int64(wt[kb + t])
                                        }
                                        d[(y * newWidth + x) * channels + c] = clip8(acc)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            cur = out
            w = newWidth
        }
        if newHeight != height {
            let co = coefficients(inSize: height, outSize: newHeight, filter: filter)
            var out = [UInt8](repeating: 0, count: w * newHeight * channels)
            let rounding = Int64(1) << Int64(precisionBits - 1)
            let rowLen = w * channels
            cur.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { d in
                    co.weights.withUnsafeBufferPointer { wt in
                        Parallel.forChunks(newHeight, costPerItem: rowLen * co.stride) { rows in
                            for y in rows {
                                let ymin = co.start[y], n = co.count[y], kb = y * co.stride
                                for i in 0..<rowLen {
                                    var acc = rounding
                                    for t in 0..<n { acc += Int64(s[(ymin + t) * rowLen + i]) * Int64(wt[kb + t]) }
                                    d[y * rowLen + i] = clip8(acc)
                                }
                            }
                        }
                    }
                }
            }
            cur = out
        }
        return cur
    }
}
