// Checks that need more than one section: unique names and addresses,
// references between sections, and routes that can never match.
extension ConfigurationReader {
    func checkAcrossSections(_ configuration: PortholeConfiguration, origins: Origins) {
        if let listenPath = origins.listenKeyPath, origins.listenerItems.isEmpty,
           document["server"]?.table?["listen"]?.array?.isEmpty == true {
            sink.error(.emptyList, listenPath, "no listeners: listen is empty and there is no [[listener]]",
                       fix: "remove listen to use the defaults (\"0.0.0.0:443\" and \"[::]:443\"), or list addresses, e.g. listen = [\"0.0.0.0:443\"]")
        }

        checkUnique(origins.listenerItems, what: "listener")
        checkUnique(origins.certificateItems, what: "certificate")
        checkUnique(origins.routeItems, what: "route")
        checkListenerAddresses(configuration, origins: origins)
        checkReferences(configuration, origins: origins)
        checkShadowing(configuration, origins: origins)
    }

    private func checkUnique(_ items: [NamedItem], what: String) {
        var first: [String: NamedItem] = [:]
        for item in items {
            guard let earlier = first[item.name] else {
                first[item.name] = item
                continue
            }
            let namePath = sink.locator.contains(item.path.key("name")) ? item.path.key("name") : item.path
            sink.error(.duplicateName, namePath, "the \(what) name \"\(item.name)\" is already used by \(earlier.path)",
                       fix: "give each \(what) a unique name = \"…\"")
        }
    }

    private func checkListenerAddresses(_ configuration: PortholeConfiguration, origins: Origins) {
        var seen: [String: String] = [:]
        for (index, listener) in configuration.listeners.enumerated() {
            let key = listener.endpoint.description
            guard let firstName = seen[key] else {
                seen[key] = listener.name
                continue
            }
            let path = index < origins.listenerPaths.count ? origins.listenerPaths[index] : ConfigKeyPath.root
            let addressPath = sink.locator.contains(path.key("address")) ? path.key("address") : path
            sink.error(.duplicateAddress, addressPath,
                       "\(key) is already used by listener \"\(firstName)\"; the second bind would fail",
                       fix: "listen on each address:port once")
        }
    }

    private func checkReferences(_ configuration: PortholeConfiguration, origins: Origins) {
        let listenerNames = origins.listenerItems.map(\.name)
        for routeIndex in origins.routeListenerKeys.keys.sorted() {
            for (name, path) in origins.routeListenerKeys[routeIndex] ?? [] where !listenerNames.contains(name) {
                let known = listenerNames.isEmpty
                    ? "no listener is configured"
                    : TableReader.allowedValuesFix(name, listenerNames, label: "listeners")
                sink.error(.unknownReference, path, "no listener is named \"\(name)\"",
                           fix: known + " (shorthand [server].listen entries are named listen-1, listen-2, …)")
            }
        }

        let certificateNames = origins.certificateItems.map(\.name)
        for routeIndex in origins.routeCertificateKey.keys.sorted() {
            guard let (name, path) = origins.routeCertificateKey[routeIndex], !certificateNames.contains(name) else { continue }
            let fix = certificateNames.isEmpty
                ? "no [[certificate]] is configured, so the self-signed certificate is used: remove certificate, or add a [[certificate]] with name = \"\(name)\""
                : TableReader.allowedValuesFix(name, certificateNames, label: "certificates")
            sink.error(.unknownReference, path, "no [[certificate]] is named \"\(name)\"", fix: fix)
        }

        let routeNames = origins.routeItems.map(\.name)
        if case .route(let name) = configuration.server.onSniffTimeout, let path = origins.onSniffTimeoutPath,
           !routeNames.contains(name) {
            sink.error(.unknownReference, path, "\"\(name)\" is neither \"close\" nor the name of a [[route]]",
                       fix: TableReader.allowedValuesFix(name, ["close"] + routeNames, label: "use"))
        }

        // Routes only apply on shared listeners; on a polling listener there
        // is no sniffing, so a condition naming only those can never hold.
        let pollingListeners = Set(configuration.listeners.filter { $0.mode == .polling }.map(\.name))
        for (index, route) in configuration.routes.enumerated() {
            guard let names = route.match.listeners, !names.isEmpty,
                  names.allSatisfy({ pollingListeners.contains($0) }) else { continue }
            sink.warning(.routeOnPollingListener, origins.routePaths[index].key("match").key("listener"),
                         "route \"\(route.name)\" only matches listeners in mode = \"polling\", which do not use routes",
                         fix: "match a listener with mode = \"shared\", or remove the route")
        }
    }

    private func checkShadowing(_ configuration: PortholeConfiguration, origins: Origins) {
        for shadowing in configuration.routeTable.shadowedRoutes() {
            let route = configuration.routes[shadowing.shadowedIndex]
            let earlier = configuration.routes[shadowing.shadowingIndex]
            sink.warning(.shadowedRoute, origins.routePaths[shadowing.shadowedIndex],
                         "this route can never match: \(shadowing.explanation)",
                         fix: "move route \"\(route.name)\" above route \"\(earlier.name)\", or narrow the earlier route's match")
        }
    }
}
