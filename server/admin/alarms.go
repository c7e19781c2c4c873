package admin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/fanka/fanka/server"
)

// Bounds of GET /api/v1/alarms?limit=.
const (
	DefaultAlarms = 100
	MaxAlarms     = 1000
)

// Alarm is one alarm as the API shows it.
type Alarm struct {
	ID       int64     `json:"id"`
	Code     string    `json:"code"`     // e.g. chain, signature, malformed, handshake, oversized, refused_peer
	Terminal uint32    `json:"terminal"` // the register's id; 0 when not about one
	Message  string    `json:"message"`
	Time     time.Time `json:"time"`
}

// AlarmsResponse answers GET /api/v1/alarms: the most recent alarms,
// newest first.
type AlarmsResponse struct {
	Alarms []Alarm `json:"alarms"`
}

func (s *Server) handleAlarms(w http.ResponseWriter, r *http.Request, _ server.User) {
	limit := DefaultAlarms
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > MaxAlarms {
			s.error(w, r, server.Errorf(server.EINVALID, "limit must be an integer from 1 to %d", MaxAlarms))
			return
		}
		limit = n
	}
	alarms, err := s.store.Alarms(r.Context(), limit)
	if err != nil {
		s.error(w, r, err)
		return
	}
	resp := AlarmsResponse{Alarms: make([]Alarm, len(alarms))}
	for i, a := range alarms {
		resp.Alarms[i] = Alarm{ID: a.ID, Code: a.Code, Terminal: a.Terminal, Message: a.Message, Time: a.Created.UTC()}
	}
	s.json(w, http.StatusOK, resp)
}
