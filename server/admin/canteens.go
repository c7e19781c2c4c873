package admin

import (
	"net/http"

	"github.com/fanka/fanka/server"
)

// CanteensResponse answers GET /api/v1/canteens: every canteen, in id
// order.
type CanteensResponse struct {
	Canteens []server.Canteen `json:"canteens"`
}

func (s *Server) handleCanteens(w http.ResponseWriter, r *http.Request, _ server.User) {
	cs, err := s.store.Canteens(r.Context())
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, CanteensResponse{Canteens: cs})
}

// CreateCanteenRequest is the body of POST /api/v1/canteens.
type CreateCanteenRequest struct {
	Name string `json:"name"`
}

// handleCreateCanteen answers POST /api/v1/canteens with the canteen
// made, its revenue account new: 201, or 409 if the name is taken.
func (s *Server) handleCreateCanteen(w http.ResponseWriter, r *http.Request, u server.User) {
	var req CreateCanteenRequest
	if err := decode(w, r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	c, err := s.store.CreateCanteen(r.Context(), req.Name)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.audit(r, u, AuditCanteenCreate, map[string]any{"canteen_id": c.ID, "name": c.Name, "revenue_account": c.RevenueAccount})
	s.Logger.Info("api: canteen created", "canteen", c.ID, "name", c.Name, "user", u.Name)
	s.json(w, http.StatusCreated, c)
}

// MoveTerminalRequest is the body of POST /api/v1/terminals/{id}/move.
type MoveTerminalRequest struct {
	Canteen int64 `json:"canteen_id"`
}

// handleMoveTerminal answers POST /api/v1/terminals/{id}/move with the
// register as it is now: its sales from then on are the canteen's.
func (s *Server) handleMoveTerminal(w http.ResponseWriter, r *http.Request, u server.User) {
	id, err := terminalID(r)
	if err != nil {
		s.error(w, r, err)
		return
	}
	var req MoveTerminalRequest
	if err := decode(w, r, &req); err != nil {
		s.error(w, r, err)
		return
	}
	if req.Canteen <= 0 {
		s.error(w, r, server.Errorf(server.EINVALID, "canteen_id must be a canteen's id"))
		return
	}
	if err := s.store.MoveTerminal(r.Context(), id, req.Canteen); err != nil {
		s.error(w, r, err)
		return
	}
	s.audit(r, u, AuditTerminalMove, map[string]any{"terminal_id": id, "canteen_id": req.Canteen})
	s.Logger.Info("api: register moved", "terminal", id, "canteen", req.Canteen, "user", u.Name)
	t, err := s.store.Terminal(r.Context(), id)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.json(w, http.StatusOK, terminalInfo(t))
}
