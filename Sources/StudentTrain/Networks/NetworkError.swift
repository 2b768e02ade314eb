/// A network refused its input, its weights or a call order, naming the layer
/// (by parameter-name prefix) and the shapes involved.
public struct NetworkError: Error, CustomStringConvertible, Equatable {
    /// Where it happened: a layer name (`"features.3.conv.1"`), a network, or a file.
    public let place: String
    /// What was wrong, with the shapes or names involved.
    public let message: String

    public init(_ place: String, _ message: String) {
        self.place = place
        self.message = message
    }

    public var description: String { "[\(place)] \(message)" }
}
