// Header fields named by `Wire.Header`'s strings. Every one of them is a valid field name
// (WireConstantsTests checks each), so no caller unwraps `HTTPField.Name(_:)` by force.
import HTTPTypes

extension HTTPFields {
    /// The value of the field `name` (one of `Wire.Header`'s constants); setting nil removes it.
    subscript(wire name: String) -> String? {
        get { HTTPField.Name(name).flatMap { self[$0] } }
        set {
            guard let field = HTTPField.Name(name) else { return }
            self[field] = newValue
        }
    }
}
