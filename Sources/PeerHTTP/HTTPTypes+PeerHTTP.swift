// Conversions between the parser's wire heads and swift-http-types, the vocabulary handlers see.
// Kept here, out of HTTPWire, so the wire format needs nothing but the stdlib.
//
// HTTP/1.1 carries the authority in `Host`; `HTTPRequest` carries it as a pseudo-header. As in
// swift-nio-extras' NIOHTTPTypesHTTP1: parsing moves the first `Host` into `authority` and drops it
// from the fields; serializing writes `authority` as `Host` first. The scheme is unknown on an
// HTTP/1.1 connection and stays nil.
import HTTPTypes
import HTTPWire

extension HTTPHeaders {
    /// The fields of an `HTTPFields`, in order.
    public init(_ fields: HTTPFields) {
        self.init(fields: fields.map { Field(name: $0.name.rawName, value: $0.value) })
    }

    /// These fields as `HTTPFields`. Throws `HTTPParserError.invalidHeaderName` for a name that
    /// is not a token (never for fields the parser produced).
    public func httpFields() throws(HTTPParserError) -> HTTPFields {
        var result = HTTPFields()
        result.reserveCapacity(count)
        for field in self {
            guard let name = HTTPField.Name(field.name) else {
                throw HTTPParserError.invalidHeaderName.with(field.name)
            }
            result.append(HTTPField(name: name, value: field.value))
        }
        return result
    }
}

extension HTTPRequestHead {
    /// The head of `request` as HTTP/1.1 writes it: target from `path` (or `authority` for
    /// CONNECT, `/` when neither is set), `Host` from `authority` ahead of the other fields.
    public init(_ request: HTTPRequest, version: HTTPVersion = .http1_1) {
        var headers = HTTPHeaders()
        if let authority = request.authority, !request.headerFields.contains(where: { $0.name.canonicalName == "host" }) {
            headers.append(name: "Host", value: authority)
        }
        headers.fields.append(contentsOf: HTTPHeaders(request.headerFields).fields)
        let target = request.method == .connect ? (request.authority ?? "/") : (request.path ?? "/")
        self.init(method: request.method.rawValue, target: target, version: version, headers: headers)
    }

    /// This head as an `HTTPRequest`: `authority` from the first `Host` field (removed from the
    /// fields), `path` from the target, no scheme. Throws `HTTPParserError.invalidMethod` or
    /// `HTTPParserError.invalidHeaderName` for a head that did not come from the parser.
    public func httpRequest() throws(HTTPParserError) -> HTTPRequest {
        guard let method = HTTPRequest.Method(self.method) else {
            throw HTTPParserError.invalidMethod.with(self.method)
        }
        var fields = headers
        let host = fields["Host"]
        fields.remove(name: "Host")
        return HTTPRequest(method: method, scheme: nil, authority: host, path: target, headerFields: try fields.httpFields())
    }
}

extension HTTPResponseHead {
    /// The head of `response` as HTTP/1.1 writes it.
    public init(_ response: HTTPResponse, version: HTTPVersion = .http1_1) {
        self.init(
            status: response.status.code, reason: response.status.reasonPhrase, version: version,
            headers: HTTPHeaders(response.headerFields)
        )
    }

    /// This head as an `HTTPResponse`, with the reason phrase as received. Throws
    /// `HTTPParserError.invalidStatusCode` or `HTTPParserError.invalidHeaderName` for a head
    /// that did not come from the parser.
    public func httpResponse() throws(HTTPParserError) -> HTTPResponse {
        guard (0...999).contains(status) else { throw HTTPParserError.invalidStatusCode.with("\(status)") }
        let status = HTTPResponse.Status(code: status, reasonPhrase: HTTPField.isValidValue(reason) ? reason : "")
        return HTTPResponse(status: status, headerFields: try headers.httpFields())
    }
}
