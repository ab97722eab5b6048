package api

// ManifestError is the Status error (422 Invalid with a cause per problem)
// this API answers when source.Apply refuses a manifest; the Kubernetes
// API (package kubeapi) answers the same.
func ManifestError(err error) error { return manifestError(err) }
