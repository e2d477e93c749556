import NIOCore

/// A handler that speaks first (the CONNECT request, the upgrade request,
/// the `MX` preamble). It starts once its channel is active: at once when it
/// is added to an active channel (the agent builds the pipeline after
/// connecting), otherwise on `channelActive`. `startSpeaking` must be
/// idempotent.
protocol StartsWhenActive: ChannelInboundHandler {
    func startSpeaking(context: ChannelHandlerContext)
}

extension StartsWhenActive {
    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startSpeaking(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startSpeaking(context: context)
        context.fireChannelActive()
    }
}
