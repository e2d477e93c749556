#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The little file I/O the certificate code needs, in POSIX terms so errors
/// carry the real errno text ("Permission denied", "No such file or directory")
/// that an operator can act on.
enum FileAccess {
    /// Certificates, keys and PFX files are a few KiB; anything this large is
    /// not one, and refusing early avoids reading e.g. a disk image by mistake.
    static let maximumCertificateFileSize = 16 * 1024 * 1024

    static func errnoText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }

    /// Reads a whole certificate, key or PFX file.
    static func readAll(_ file: CertificateFile) throws -> [UInt8] {
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CertificateError.unreadableFile(file, reason: errnoText())
        }
        defer { close(fd) }

        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CertificateError.unreadableFile(file, reason: errnoText())
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maximumCertificateFileSize {
                throw CertificateError.malformed(file, detail: "the file is larger than \(maximumCertificateFileSize) bytes")
            }
        }
        return bytes
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// Replaces `path` with `bytes` so that readers see either the old file or
    /// the complete new one, never a torn write: the bytes go to a temporary
    /// file in the same directory (rename is only atomic within a file
    /// system), which is fsynced and then renamed over `path`. The temporary
    /// file is created with `mode` from the start, so a private key is never
    /// readable by others, not even briefly.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t) throws {
        let directory = directoryName(of: path)
        let baseName = path.split(separator: "/").last.map(String.init) ?? path
        var fd: Int32 = -1
        var temporaryPath = ""
        // O_EXCL with a random suffix: never follow or reuse a file someone
        // else planted under the temporary name.
        for _ in 0..<16 {
            let suffix = String(UInt32.random(in: .min ... .max), radix: 16)
            temporaryPath = "\(directory)/.\(baseName).tmp-\(suffix)"
            fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            throw CertificateError.writeFailed(path: path, reason: errnoText())
        }

        var renamed = false
        defer {
            if !renamed { unlink(temporaryPath) }
        }
        do {
            defer { close(fd) }
            // The umask may have removed bits from `mode`; the caller asked
            // for exactly this mode (0644 for a certificate, 0600 for a key).
            guard fchmod(fd, mode) == 0 else {
                throw CertificateError.writeFailed(path: path, reason: errnoText())
            }
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { buffer in
                    write(fd, buffer.baseAddress! + written, buffer.count - written)
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw CertificateError.writeFailed(path: path, reason: errnoText())
                }
                written += count
            }
            guard fsync(fd) == 0 else {
                throw CertificateError.writeFailed(path: path, reason: errnoText())
            }
        }
        guard rename(temporaryPath, path) == 0 else {
            throw CertificateError.writeFailed(path: path, reason: errnoText())
        }
        renamed = true
    }

    /// Creates `path` and any missing parents with `mode`. An existing
    /// directory is accepted as it is: its permissions are the operator's.
    /// Returns the errno text of the first failure, or nil.
    static func makeDirectories(_ path: String, mode: mode_t) -> String? {
        var info = stat()
        if stat(path, &info) == 0 {
            return (info.st_mode & S_IFMT) == S_IFDIR ? nil : "exists and is not a directory"
        }
        let parent = directoryName(of: path)
        if parent != path, parent != ".", parent != "/" {
            if let failure = makeDirectories(parent, mode: mode) { return failure }
        }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            return errnoText()
        }
        return nil
    }

    /// Whether the current user can create files in `path`.
    static func isWritableDirectory(_ path: String) -> Bool {
        access(path, W_OK | X_OK) == 0
    }

    static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }
}
