"""Sans-I/O wire codecs for the two call endpoints (see docs/protocol.md).

``browser.BrowserCodec`` speaks the browser protocol, ``twilio.TwilioCodec`` Twilio Media
Streams. Both take frames in and return typed events, encode outgoing messages to
``str``/``bytes``, and raise ``errors.ProtocolError`` carrying the websocket close code.
The async adapters in ``server/`` move frames between them and the socket.
"""
