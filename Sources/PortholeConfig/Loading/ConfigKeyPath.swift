/// Where a value lives, in two spellings: the one people read in error
/// messages (`[[route]] #2 ("agents").match.sni[0]`) and the one
/// `SourceLocator` uses to find its line (`route#1.match.sni`).
struct ConfigKeyPath: Sendable, Hashable, CustomStringConvertible {
    enum Component: Sendable, Hashable {
        /// `[server]`, `[polling]`.
        case table(String)
        /// The `index`th (0-based) `[[name]]`, with its `name =` if it has one.
        case arrayTable(String, index: Int, label: String?)
        case key(String)
        /// An element of an array value (0-based).
        case element(Int)
    }

    private(set) var components: [Component]

    static let root = ConfigKeyPath(components: [])

    static func table(_ name: String) -> ConfigKeyPath {
        ConfigKeyPath(components: [.table(name)])
    }

    static func arrayTable(_ name: String, index: Int, label: String?) -> ConfigKeyPath {
        ConfigKeyPath(components: [.arrayTable(name, index: index, label: label)])
    }

    func key(_ name: String) -> ConfigKeyPath {
        ConfigKeyPath(components: components + [.key(name)])
    }

    func element(_ index: Int) -> ConfigKeyPath {
        ConfigKeyPath(components: components + [.element(index)])
    }

    /// The schema section this path's table belongs to: "server", "route",
    /// "route.match", "polling.agent", … ("" for the document root).
    var section: String {
        var names: [String] = []
        for component in components {
            switch component {
            case .table(let name), .arrayTable(let name, _, _): names.append(name)
            case .key(let name): names.append(name)
            case .element: break
            }
        }
        return names.joined(separator: ".")
    }

    var description: String {
        var text = ""
        for component in components {
            switch component {
            case .table(let name):
                text += "[\(name)]"
            case .arrayTable(let name, let index, let label):
                text += "[[\(name)]] #\(index + 1)"
                if let label { text += " (\"\(label)\")" }
            case .key(let name):
                text += text.isEmpty ? name : ".\(name)"
            case .element(let index):
                text += "[\(index)]"
            }
        }
        return text
    }

    /// Dotted address with array-of-tables occurrences as `name#index`;
    /// array elements are not part of it (see `elementIndex`).
    var locatorAddress: String {
        var parts: [String] = []
        for component in components {
            switch component {
            case .table(let name), .key(let name): parts.append(name)
            case .arrayTable(let name, let index, _): parts.append("\(name)#\(index)")
            case .element: break
            }
        }
        return parts.joined(separator: ".")
    }

    /// The innermost array element index, if the path ends in one.
    var elementIndex: Int? {
        if case .element(let index) = components.last { return index }
        return nil
    }
}
