package serve

import "time"

// What the external tests (package serve_test) reach inside a Server.

// SetManifestHooks makes s call admitted when a manifest PUT takes a place
// among MaxManifestPuts, and waits when one finds none free and waits. Set
// them before s serves.
func SetManifestHooks(s *Server, admitted, waits func()) {
	s.limits.manifestAdmitted, s.limits.manifestWaits = admitted, waits
}

// SetRateClock makes s's per-client rate limit read the time from now. Set
// it before s serves.
func SetRateClock(s *Server, now func() time.Time) {
	s.limits.perClient.SetClock(now)
}
