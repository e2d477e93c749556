/// The product name and version shown by `porthole version`, the status page
/// and the `Server` header.
public enum PortholeVersion {
    public static let product = "Porthole"
    public static let version = "0.1.0"
    public static var serverHeader: String { "\(product)/\(version)" }
}
