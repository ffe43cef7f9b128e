import Foundation

/// CLIP's byte-level BPE tokenizer (Radford et al. 2021; OpenAI `simple_tokenizer.py`), reproducing
/// Hugging Face transformers' `CLIPTokenizer` (`models/clip/tokenization_clip.py`) from
/// `vocab.json` and `merges.txt`:
///
/// 1. special tokens `<|startoftext|>` / `<|endoftext|>` written literally in the text are split
///    out first and map straight to their ids;
/// 2. normalisation (see ``Normalization``): by default that of the tokenizers-backed tokenizer
///    (transformers ≥ 5 and `CLIPTokenizerFast`): Unicode NFC, every run of whitespace → one
///    space, full Unicode lower-casing;
/// 3. pre-tokenisation with the CLIP pattern
///    `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
///    (implemented as a hand-written leftmost-first scanner over Unicode scalars; whitespace
///    between matches is dropped);
/// 4. every piece's UTF-8 bytes are mapped through GPT-2's `bytes_to_unicode` table, the last
///    symbol gets the `</w>` end-of-word suffix, and BPE merges are applied lowest rank first;
/// 5. ``tokenize(_:)`` wraps the ids in BOS 49406 … EOS 49407, truncates to the context length
///    (77) keeping EOS last, and pads with the pad id (`<|endoftext|>`, 49407).
public struct CLIPTokenizer: Sendable {
    /// Which of transformers' two text-cleaning paths to reproduce. Both give the same ids on
    /// ordinary text; they differ on control characters and CJK runs.
    public enum Normalization: Sendable, Equatable {
        /// Tokenizers backend (transformers ≥ 5 `CLIPTokenizer`, `CLIPTokenizerFast`):
        /// NFC, `\s+` → " ", lower-case. The fixtures' reference ids were made this way.
        case fast
        /// The Python `CLIPTokenizer` of transformers 4.x without `ftfy`: `BasicTokenizer`
        /// (`strip_accents=False`, `do_split_on_punc=False`): drop NUL, U+FFFD and control
        /// characters, space out CJK ideographs, NFC, split on whitespace, lower-case.
        case slowWithoutFtfy
    }

    struct Pair: Hashable, Sendable {
        let a: String, b: String
    }

    /// Token string → id.
    public let vocabulary: [String: Int]
    let idToToken: [Int: String]
    let mergeRanks: [Pair: Int]
    let byteEncoder: [String]          // byte → unicode symbol
    let byteDecoder: [Character: UInt8]
    public let normalization: Normalization
    /// `<|startoftext|>` id (49406 for CLIP).
    public let bosTokenId: Int
    /// `<|endoftext|>` id (49407 for CLIP).
    public let eosTokenId: Int
    /// Padding id (`<|endoftext|>`, as in the Hugging Face tokenizer config).
    public let padTokenId: Int
    /// Id used for symbols missing from the vocabulary (`<|endoftext|>`; unreachable with
    /// CLIP's vocabulary, which holds every byte symbol with and without `</w>`).
    public let unknownTokenId: Int
    /// Default sequence length of ``tokenize(_:)``.
    public let contextLength: Int

    public static let startOfText = "<|startoftext|>"
    public static let endOfText = "<|endoftext|>"

    /// Loads `vocab.json` and `merges.txt`.
    public init(vocabPath: String, mergesPath: String, contextLength: Int = 77,
                normalization: Normalization = .fast) throws(CLIPError) {
        for p in [vocabPath, mergesPath] where !FileManager.default.fileExists(atPath: p) {
            throw CLIPError.missingFile(path: p, hint: CLIPError.downloadHint)
        }
        let vocabData: Data
        let mergesText: String
        do {
            vocabData = try Data(contentsOf: URL(fileURLWithPath: vocabPath))
        } catch { throw CLIPError.unreadable(path: vocabPath, reason: error.localizedDescription) }
        do {
            mergesText = try String(contentsOf: URL(fileURLWithPath: mergesPath), encoding: .utf8)
        } catch { throw CLIPError.unreadable(path: mergesPath, reason: error.localizedDescription) }
        var vocab: [String: Int] = [:]
        do {
            guard let obj = try JSONSerialization.jsonObject(with: vocabData) as? [String: Any] else {
                throw CLIPError.badTokenizer(path: vocabPath, detail: "vocab.json is not a JSON object")
            }
            vocab.reserveCapacity(obj.count)
            for (k, v) in obj {
                guard let n = v as? NSNumber else {
                    throw CLIPError.badTokenizer(path: vocabPath, detail: "id of token '\(k)' is not a number")
                }
                vocab[k] = n.intValue
            }
        } catch let e as CLIPError { throw e } catch {
            throw CLIPError.badTokenizer(path: vocabPath, detail: "invalid JSON: \(error.localizedDescription)")
        }
        var merges: [(String, String)] = []
        var lineNumber = 0
        for line in mergesText.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let l = line.hasSuffix("\r") ? line.dropLast() : line[...]
            if l.isEmpty || (lineNumber == 1 && l.hasPrefix("#version")) { continue }
            let parts = l.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count == 2 else {
                throw CLIPError.badTokenizer(path: mergesPath, detail: "line \(lineNumber) is not a pair of symbols: '\(l)'")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        try self.init(vocabulary: vocab, merges: merges, contextLength: contextLength,
                      normalization: normalization, sourcePath: vocabPath)
    }

    /// Builds a tokenizer from a vocabulary and ranked merges (first = highest priority).
    public init(vocabulary: [String: Int], merges: [(String, String)], contextLength: Int = 77,
                normalization: Normalization = .fast, sourcePath: String = "vocab.json") throws(CLIPError) {
        guard let bos = vocabulary[CLIPTokenizer.startOfText], let eos = vocabulary[CLIPTokenizer.endOfText] else {
            throw CLIPError.badTokenizer(path: sourcePath, detail: "vocabulary lacks \(CLIPTokenizer.startOfText) or \(CLIPTokenizer.endOfText)")
        }
        guard contextLength >= 2 else {
            throw CLIPError.badInput(detail: "context length \(contextLength) leaves no room for BOS and EOS")
        }
        self.vocabulary = vocabulary
        var inverse: [Int: String] = [:]
        inverse.reserveCapacity(vocabulary.count)
        for (k, v) in vocabulary { inverse[v] = k }
        self.idToToken = inverse
        var ranks: [Pair: Int] = [:]
        ranks.reserveCapacity(merges.count)
        for (i, m) in merges.enumerated() where ranks[Pair(a: m.0, b: m.1)] == nil {
            ranks[Pair(a: m.0, b: m.1)] = i
        }
        self.mergeRanks = ranks
        let table = CLIPTokenizer.bytesToUnicode()
        self.byteEncoder = table.map { String($0) }
        var dec: [Character: UInt8] = [:]
        for (b, s) in table.enumerated() { dec[Character(s)] = UInt8(b) }
        self.byteDecoder = dec
        self.normalization = normalization
        self.bosTokenId = bos
        self.eosTokenId = eos
        self.padTokenId = eos
        self.unknownTokenId = eos
        self.contextLength = contextLength
    }

    /// GPT-2's reversible byte → printable-scalar table: printable Latin-1 bytes map to
    /// themselves, the other 68 bytes to U+0100 onwards in byte order.
    static func bytesToUnicode() -> [Unicode.Scalar] {
        var bs: [Int] = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for b in 0..<256 where !bs.contains(b) {
            bs.append(b)
            cs.append(256 + n)
            n += 1
        }
        var out = [Unicode.Scalar](repeating: " ", count: 256)
        for (b, c) in zip(bs, cs) { out[b] = Unicode.Scalar(UInt32(c))! }
        return out
    }

    // MARK: Encoding

    /// Ids for `text` wrapped in BOS … EOS, truncated to `contextLength` (EOS kept last) and
    /// padded with ``padTokenId`` to exactly `contextLength` — the `input_ids` transformers gives
    /// for `padding="max_length", truncation=True, max_length=77`.
    public func tokenize(_ text: String, contextLength: Int? = nil) -> [Int] {
        let n = contextLength ?? self.contextLength
        precondition(n >= 2, "CLIPTokenizer: context length must be at least 2")
        var ids = [bosTokenId]
        ids.append(contentsOf: encodeBody(text).prefix(n - 2))
        ids.append(eosTokenId)
        while ids.count < n { ids.append(padTokenId) }
        return ids
    }

    /// ``tokenize(_:contextLength:)`` for every text.
    public func tokenize(_ texts: [String], contextLength: Int? = nil) -> [[Int]] {
        texts.map { tokenize($0, contextLength: contextLength) }
    }

    /// Ids for `text` wrapped in BOS … EOS, neither truncated nor padded.
    public func encode(_ text: String) -> [Int] {
        [bosTokenId] + encodeBody(text) + [eosTokenId]
    }

    /// The BPE token strings of `text` (no BOS/EOS), e.g. `["a</w>", "photo</w>"]`.
    public func tokens(_ text: String) -> [String] {
        encodeBody(text).map { idToToken[$0] ?? "" }
    }

    /// Text for `ids` (special tokens skipped; `</w>` becomes a space), as transformers'
    /// `decode(skip_special_tokens=True)` without clean-up.
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id != bosTokenId && id != eosTokenId && id != padTokenId {
            guard var tok = idToToken[id] else { continue }
            var space = false
            if tok.hasSuffix("</w>") { tok.removeLast(4); space = true }
            for ch in tok { if let b = byteDecoder[ch] { bytes.append(b) } }
            if space { bytes.append(0x20) }
        }
        let s = String(decoding: bytes, as: UTF8.self)
        return s.hasSuffix(" ") ? String(s.dropLast()) : s
    }

    /// Ids of the text without BOS/EOS: special-token split, normalisation, pre-tokenisation,
    /// byte mapping, BPE.
    func encodeBody(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in CLIPTokenizer.splitSpecialTokens(text) {
            switch segment {
            case .special(let s):
                ids.append(s == CLIPTokenizer.startOfText ? bosTokenId : eosTokenId)
            case .text(let t):
                let normalized = normalize(t)
                for piece in CLIPTokenizer.preTokenize(normalized) {
                    var mapped: [String] = []
                    for b in piece.utf8 { mapped.append(byteEncoder[Int(b)]) }
                    for tok in bpe(mapped) { ids.append(vocabulary[tok] ?? unknownTokenId) }
                }
            }
        }
        return ids
    }

    enum Segment: Equatable { case text(String), special(String) }

    /// Splits out literal `<|startoftext|>` / `<|endoftext|>` (case-sensitive, no stripping), as
    /// transformers' added-token handling does before normalisation.
    static func splitSpecialTokens(_ text: String) -> [Segment] {
        var out: [Segment] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            let a = rest.range(of: startOfText), b = rest.range(of: endOfText)
            let next: Range<Substring.Index>?
            switch (a, b) {
            case let (x?, y?): next = x.lowerBound <= y.lowerBound ? x : y
            case let (x?, nil): next = x
            case let (nil, y?): next = y
            default: next = nil
            }
            guard let r = next else { out.append(.text(String(rest))); break }
            if r.lowerBound > rest.startIndex { out.append(.text(String(rest[..<r.lowerBound]))) }
            out.append(.special(String(rest[r])))
            rest = rest[r.upperBound...]
        }
        return out
    }

    // MARK: Normalisation

    /// The cleaned, lower-cased text the pre-tokeniser sees.
    public func normalize(_ text: String) -> String {
        switch normalization {
        case .fast: return CLIPTokenizer.normalizeFast(text)
        case .slowWithoutFtfy: return CLIPTokenizer.normalizeSlow(text)
        }
    }

    /// tokenizers: `Sequence([NFC(), Replace(Regex(r"\s+"), " "), Lowercase()])`.
    static func normalizeFast(_ text: String) -> String {
        let nfc = text.precomposedStringWithCanonicalMapping
        var out = String.UnicodeScalarView()
        var inSpace = false
        for u in nfc.unicodeScalars {
            if u.properties.isWhitespace {
                if !inSpace { out.append(" ") }
                inSpace = true
                continue
            }
            inSpace = false
            appendLowercased(u, to: &out)
        }
        return String(out)
    }

    /// Full (unconditional) Unicode lower-case mapping of one scalar, as Rust's
    /// `char::to_lowercase`.
    static func appendLowercased(_ u: Unicode.Scalar, to out: inout String.UnicodeScalarView) {
        if u.isASCII {
            let v = u.value
            out.append((v >= 65 && v <= 90) ? Unicode.Scalar(v + 32)! : u)
        } else if u.properties.changesWhenLowercased {
            out.append(contentsOf: u.properties.lowercaseMapping.unicodeScalars)
        } else {
            out.append(u)
        }
    }

    /// transformers 4.x `CLIPTokenizer` without ftfy: `" ".join(BasicTokenizer(strip_accents=False,
    /// do_split_on_punc=False).tokenize(text))`.
    static func normalizeSlow(_ text: String) -> String {
        // _clean_text: drop NUL, U+FFFD and control characters; whitespace → space.
        var cleaned = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            let v = u.value
            if v == 0 || v == 0xFFFD { continue }
            if v == 0x20 || v == 0x09 || v == 0x0A || v == 0x0D || u.properties.generalCategory == .spaceSeparator {
                cleaned.append(" ")
                continue
            }
            switch u.properties.generalCategory {
            case .control, .format, .surrogate, .privateUse, .unassigned: continue
            default: break
            }
            // _tokenize_chinese_chars: space out CJK ideographs.
            if isCJK(v) {
                cleaned.append(" "); cleaned.append(u); cleaned.append(" ")
            } else {
                cleaned.append(u)
            }
        }
        let nfc = String(cleaned).precomposedStringWithCanonicalMapping
        // whitespace_tokenize (Python str.split), lower-case each token, re-join with spaces.
        var words: [String] = []
        var current = String.UnicodeScalarView()
        for u in nfc.unicodeScalars {
            if isPythonSpace(u) {
                if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
            } else {
                appendLowercased(u, to: &current)
            }
        }
        if !current.isEmpty { words.append(String(current)) }
        return words.joined(separator: " ")
    }

    static func isCJK(_ cp: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(cp) || (0x3400...0x4DBF).contains(cp) || (0x20000...0x2A6DF).contains(cp)
            || (0x2A700...0x2B73F).contains(cp) || (0x2B740...0x2B81F).contains(cp) || (0x2B820...0x2CEAF).contains(cp)
            || (0xF900...0xFAFF).contains(cp) || (0x2F800...0x2FA1F).contains(cp)
    }

    /// Python's `str.isspace` (whitespace category or bidi class WS/B/S).
    static func isPythonSpace(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x09...0x0D, 0x1C...0x1F, 0x20, 0x85: return true
        default: return u.properties.isWhitespace
        }
    }

    // MARK: Pre-tokenisation

    @inline(__always) static func isLetter(_ u: Unicode.Scalar) -> Bool {
        switch u.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    @inline(__always) static func isNumber(_ u: Unicode.Scalar) -> Bool {
        switch u.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    @inline(__always) static func isSpace(_ u: Unicode.Scalar) -> Bool { u.properties.isWhitespace }

    static let contractions: [[Unicode.Scalar]] = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map { Array($0.unicodeScalars) }
    static let specialPatterns: [[Unicode.Scalar]] = [startOfText, endOfText].map { Array($0.unicodeScalars) }

    /// The matches of the CLIP pattern in `text`, leftmost-first, in order; text between
    /// matches (whitespace) is dropped (tokenizers' `Split(..., behavior="removed", invert=True)`).
    public static func preTokenize(_ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        var out: [String] = []
        var i = 0
        func starts(with p: [Unicode.Scalar], at i: Int) -> Bool {
            guard i + p.count <= s.count else { return false }
            for k in 0..<p.count where s[i + k] != p[k] { return false }
            return true
        }
        func emit(_ a: Int, _ b: Int) {
            var v = String.UnicodeScalarView()
            v.append(contentsOf: s[a..<b])
            out.append(String(v))
        }
        scan: while i < s.count {
            let u = s[i]
            for p in specialPatterns where starts(with: p, at: i) {
                emit(i, i + p.count); i += p.count; continue scan
            }
            if u == "'" {
                for p in contractions where starts(with: p, at: i) {
                    emit(i, i + p.count); i += p.count; continue scan
                }
            }
            if isLetter(u) {
                var j = i + 1
                while j < s.count && isLetter(s[j]) { j += 1 }
                emit(i, j); i = j
            } else if isNumber(u) {
                emit(i, i + 1); i += 1
            } else if isSpace(u) {
                i += 1
            } else {
                var j = i + 1
                while j < s.count && !isSpace(s[j]) && !isLetter(s[j]) && !isNumber(s[j]) { j += 1 }
                emit(i, j); i = j
            }
        }
        return out
    }

    // MARK: BPE

    /// Byte-level BPE of one pre-token given as byte symbols; the last symbol carries `</w>`.
    func bpe(_ symbols: [String]) -> [String] {
        guard !symbols.isEmpty else { return [] }
        var word = symbols
        word[word.count - 1] += "</w>"
        while word.count > 1 {
            var bestRank = Int.max
            var best: Pair? = nil
            for k in 0..<(word.count - 1) {
                let p = Pair(a: word[k], b: word[k + 1])
                if let r = mergeRanks[p], r < bestRank { bestRank = r; best = p }
            }
            guard let pair = best else { break }
            var merged: [String] = []
            merged.reserveCapacity(word.count)
            var k = 0
            while k < word.count {
                if k < word.count - 1 && word[k] == pair.a && word[k + 1] == pair.b {
                    merged.append(pair.a + pair.b)
                    k += 2
                } else {
                    merged.append(word[k])
                    k += 1
                }
            }
            word = merged
        }
        return word
    }
}
