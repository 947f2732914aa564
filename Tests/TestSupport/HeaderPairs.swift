// Header fields from `name: value` pairs, for the expected heads of the parser, serializer and
// conversion tests.
import HTTPWire

/// `name: value` pairs as ``HTTPHeaders``, in the order given, repeated names kept.
public func headers(_ pairs: (String, String)...) -> HTTPHeaders {
    var result = HTTPHeaders()
    for (name, value) in pairs { result.append(name: name, value: value) }
    return result
}
