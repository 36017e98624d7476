// Weft's run of the upstream Gateway API conformance suite (sigs.k8s.io/gateway-api/conformance, unmodified).
// `npm run conformance` (scripts/conformance.sh) starts the local cluster and Weft, then runs this test with the
// suite's own flags: --gateway-class, --supported-features (Weft's list, SUPPORTED_FEATURES in
// src/gateway/translate.ts), --report-output, --version, the report's --organization, --project, --url and --contact
// (from package.json or WEFT_CONFORMANCE_*), and optionally --run-test. The profiles, and implementation details the
// flags leave empty, are filled in here.
package conformance

import (
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
)

var weftProfiles = []suite.ConformanceProfileName{
	suite.GatewayHTTPConformanceProfileName,
	suite.GatewayGRPCConformanceProfileName,
	suite.GatewayTLSConformanceProfileName,
}

func TestConformance(t *testing.T) {
	opts := conformance.DefaultOptions(t)
	if len(opts.ConformanceProfiles) == 0 {
		opts.ConformanceProfiles = weftProfiles
	}
	impl := &opts.Implementation
	if impl.Organization == "" {
		impl.Organization = "weft"
	}
	if impl.Project == "" {
		impl.Project = "weft"
	}
	if impl.URL == "" {
		impl.URL = "https://weft.dev"
	}
	if len(impl.Contact) == 0 {
		impl.Contact = []string{"weft maintainers"}
	}
	conformance.RunConformanceWithOptions(t, opts)
}
