// PeerHTTP module: the HTTP/1.1 server and client on RaftIO. The wire format they speak (parser,
// serializer, heads, fields) is the HTTPWire module; its types appear in this module's API
// (`HTTPServerRequest.head`, `HTTPClientResponse.head`, `HTTPClientError`), so importing PeerHTTP
// brings them along.
@_exported import HTTPWire
