import Foundation

/// A PEM file split into its blocks (RFC 7468), without decoding them.
///
/// Porthole splits PEM itself rather than letting OpenSSL scan the file, so
/// it can tell "no certificate in this file" from "a certificate block that
/// is broken", notice an encrypted key before OpenSSL would ask for a
/// passphrase, and keep the order of certificates (leaf first). Each block's
/// text is then handed to OpenSSL's PEM reader on its own.
struct PEMDocument {
    struct Block {
        /// The label between "-----BEGIN " and "-----", e.g. "CERTIFICATE".
        let label: String
        /// From "-----BEGIN" to the end of the "-----END" line, inclusive.
        let text: [UInt8]
        /// RFC 1421 headers ("Proc-Type: 4,ENCRYPTED") inside the block.
        let hasEncryptionHeader: Bool

        var isCertificate: Bool {
            // "X509 CERTIFICATE" is the pre-RFC 7468 label that OpenSSL still reads.
            label == "CERTIFICATE" || label == "X509 CERTIFICATE"
        }

        /// "PRIVATE KEY" (PKCS#8), "RSA PRIVATE KEY", "EC PRIVATE KEY" (traditional),
        /// "ENCRYPTED PRIVATE KEY" (encrypted PKCS#8).
        var isPrivateKey: Bool {
            label.hasSuffix("PRIVATE KEY")
        }

        var isEncryptedPrivateKey: Bool {
            isPrivateKey && (label == "ENCRYPTED PRIVATE KEY" || hasEncryptionHeader)
        }
    }

    enum ParseError: Error {
        case unterminatedBlock(label: String)
    }

    let blocks: [Block]

    var certificateBlocks: [Block] { blocks.filter(\.isCertificate) }
    var privateKeyBlocks: [Block] { blocks.filter(\.isPrivateKey) }

    /// True when `bytes` contain a PEM BEGIN line anywhere; RFC 7468 allows
    /// explanatory text (as `openssl x509 -text` writes) before the blocks.
    static func containsPEM(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN ".utf8)
        guard bytes.count >= marker.count else { return false }
        for start in 0...(bytes.count - marker.count) where bytes[start] == marker[0] {
            if bytes[start..<(start + marker.count)].elementsEqual(marker) { return true }
        }
        return false
    }

    init(_ bytes: [UInt8]) throws(ParseError) {
        var blocks: [Block] = []
        var open: (label: String, start: Int, encrypted: Bool)?
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let next = min(lineEnd + 1, bytes.count)
            var contentEnd = lineEnd
            // CRLF files from Windows; trailing blanks from copy-paste.
            while contentEnd > lineStart,
                  [UInt8(ascii: "\r"), UInt8(ascii: " "), UInt8(ascii: "\t")].contains(bytes[contentEnd - 1]) {
                contentEnd -= 1
            }
            let line = String(decoding: bytes[lineStart..<contentEnd], as: UTF8.self)

            if let current = open {
                if line == "-----END \(current.label)-----" {
                    blocks.append(Block(label: current.label,
                                        text: Array(bytes[current.start..<next]),
                                        hasEncryptionHeader: current.encrypted))
                    open = nil
                } else if line.hasPrefix("Proc-Type:") && line.contains("ENCRYPTED") {
                    open = (current.label, current.start, true)
                }
            } else if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----"), line.count > 16 {
                let label = String(line.dropFirst("-----BEGIN ".count).dropLast("-----".count))
                open = (label, lineStart, false)
            }
            lineStart = next
        }
        if let current = open {
            throw .unterminatedBlock(label: current.label)
        }
        self.blocks = blocks
    }
}

extension PEMDocument {
    /// Splits `bytes`, turning format problems into errors that name `file`.
    /// A file without a single PEM block is malformed (for PEM callers), which
    /// is different from a PEM file that lacks the block a caller wants.
    static func parse(_ bytes: [UInt8], file: CertificateFile) throws -> PEMDocument {
        let document: PEMDocument
        do {
            document = try PEMDocument(bytes)
        } catch {
            switch error {
            case .unterminatedBlock(let label):
                throw CertificateError.malformed(file, detail: "the PEM \"\(label)\" block has no END line")
            }
        }
        guard !document.blocks.isEmpty else {
            throw CertificateError.malformed(file, detail: "no PEM block (\"-----BEGIN …-----\") found")
        }
        return document
    }
}

/// PEM output (RFC 7468 §2: base64 in lines of 64 characters).
enum PEMEncoding {
    static func encode(_ der: [UInt8], label: String) -> String {
        let base64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(base64)\n-----END \(label)-----\n"
    }
}
