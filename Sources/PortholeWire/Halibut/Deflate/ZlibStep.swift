import CZlib

/// One zlib call (`deflate` or `inflate`) writing into `chunk`: points the
/// stream's output at the chunk, runs `operation`, and detaches the output
/// again so that no dangling pointer outlives the call. Returns zlib's code
/// and how many bytes it produced. Shared by the compressor and the
/// inflater, which differ only in the operation.
func zlibStep(_ stream: z_streamp, into chunk: inout [UInt8], _ operation: (z_streamp) -> Int32) -> (code: Int32, produced: Int) {
    let chunkSize = chunk.count
    return chunk.withUnsafeMutableBytes { out -> (Int32, Int) in
        stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(chunkSize)
        let code = operation(stream)
        let produced = chunkSize - Int(stream.pointee.avail_out)
        stream.pointee.next_out = nil
        stream.pointee.avail_out = 0
        return (code, produced)
    }
}
