/// Text for the small HTML pages Porthole writes itself (redirects, error
/// pages, the status page): one escaper for all of them.
public enum HTMLText {
    /// Escapes the five characters that matter in element text and quoted
    /// attribute values.
    public static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
