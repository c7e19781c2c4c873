package admin

import (
	"net/http"

	"github.com/fanka/fanka/server"
)

// RulesResponse answers GET and PUT /api/v1/rules: the sale rules in
// force and their version (0 for the defaults, before any were set).
// Registers get each new version within a second or so (the gateway's
// RulesInterval) and refuse, online and offline, the sales they forbid.
type RulesResponse struct {
	Version uint64       `json:"version"`
	Rules   server.Rules `json:"rules"`
}

// RulesRequest is the body of PUT /api/v1/rules: the new rules, in full.
// A limit left out is 0, no limit.
type RulesRequest struct {
	Rules *server.Rules `json:"rules"`
}

func (s *Server) handleRules(w http.ResponseWriter, r *http.Request, _ server.User) {
	rules, version, err := s.store.Rules(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, RulesResponse{Version: version, Rules: rules})
}

func (s *Server) handleSetRules(w http.ResponseWriter, r *http.Request, u server.User) {
	var req RulesRequest
	if err := decode(w, r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	if req.Rules == nil {
		s.error(w, r, server.Errorf(server.EINVALID, `rules missing: want {"rules": {...}}`))
		return
	}
	if err := req.Rules.Validate(); err != nil {
		s.error(w, r, err)
		return
	}
	version, err := s.store.SetRules(r.Context(), *req.Rules, u.Name)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.Logger.Info("api: rules set", "user", u.Name, "version", version)
	s.audit(r, u, "rules.set", map[string]any{"version": version, "rules": *req.Rules})
	s.json(w, http.StatusOK, RulesResponse{Version: version, Rules: *req.Rules})
}
