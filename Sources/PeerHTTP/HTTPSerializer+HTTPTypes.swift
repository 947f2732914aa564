// The serializer for swift-http-types heads: writes straight from `HTTPFields`, with no
// intermediate `HTTPHeaders`, since this is the server's per-response path.
import HTTPTypes
import HTTPWire

extension HTTPSerializer {
    /// Appends `request` as an HTTP/1.1 head: request line (target from `path`, or `authority`
    /// for CONNECT), `Host` from `authority` unless the fields have one, the fields, the framing
    /// field and the empty line.
    public static func appendRequestHead(
        _ request: HTTPRequest, version: HTTPVersion = .http1_1, body: HTTPBodyFraming, to buffer: inout [UInt8]
    ) {
        appendRequestHeadBeforeFraming(request, version: version, body: body, to: &buffer)
        appendFraming(body, to: &buffer)
    }

    /// Appends what ``appendRequestHead(_:version:body:to:)`` writes before the framing field: the
    /// request line, `Host` and the fields (their own framing fields left out unless `body` is
    /// `.none`). A head reused for bodies of any length is this, then `appendFraming` per body.
    static func appendRequestHeadBeforeFraming(
        _ request: HTTPRequest, version: HTTPVersion = .http1_1, body: HTTPBodyFraming, to buffer: inout [UInt8]
    ) {
        let target = request.method == .connect ? (request.authority ?? "/") : (request.path ?? "/")
        appendRequestLine(method: request.method.rawValue, target: target, version: version, to: &buffer)
        if let authority = request.authority, !request.headerFields.contains(where: { $0.name.canonicalName == "host" }) {
            appendField(name: "Host", value: authority, skippingFramingFor: body, to: &buffer)
        }
        for field in request.headerFields {
            appendField(name: field.name.rawName, value: field.value, skippingFramingFor: body, to: &buffer)
        }
    }

    /// Appends `response` as an HTTP/1.1 head: status line (the standard reason phrase when the
    /// status has none), the fields, the framing field and the empty line.
    public static func appendResponseHead(
        _ response: HTTPResponse, version: HTTPVersion = .http1_1, body: HTTPBodyFraming, to buffer: inout [UInt8]
    ) {
        appendStatusLine(status: response.status.code, reason: response.status.reasonPhrase, version: version, to: &buffer)
        for field in response.headerFields {
            appendField(name: field.name.rawName, value: field.value, skippingFramingFor: body, to: &buffer)
        }
        appendFraming(body, to: &buffer)
    }

    /// Appends the last chunk with `trailers` as trailer fields.
    public static func appendLastChunk(trailers: HTTPFields, to buffer: inout [UInt8]) {
        appendLastChunk(trailers: HTTPHeaders(trailers), to: &buffer)
    }
}
