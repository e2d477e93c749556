// Every incremental reader here works on `UnsafeRawBufferPointer` (what a
// NIO ByteBuffer or an Array lends without copying) and reports how many
// bytes it consumed, so the caller keeps the rest for the next unit. This
// helper lends any byte sequence that way, copying only when the sequence
// has no contiguous storage.

@inline(__always)
func withHalibutBytes<S: Sequence<UInt8>, R, E: Error>(
    _ bytes: S, _ body: (UnsafeRawBufferPointer) throws(E) -> R
) throws(E) -> R {
    let contiguous: Result<R, E>? = bytes.withContiguousStorageIfAvailable { buffer in
        Result { () throws(E) in try body(UnsafeRawBufferPointer(buffer)) }
    }
    if let contiguous { return try contiguous.get() }
    let copy = Array(bytes)
    let result: Result<R, E> = copy.withUnsafeBytes { raw in
        Result { () throws(E) in try body(raw) }
    }
    return try result.get()
}
