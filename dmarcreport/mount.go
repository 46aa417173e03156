package dmarcreport

import (
	"net/http"

	"github.com/hamlet-mail/hamlet/controller"
)

// Mount puts the reports' JSON API and page on the controller: reading
// for the read-only password, uploading and sending for the admin one.
// snd and c (the sender and collector of hamlet's own reports) may be
// nil: no /api/dmarc/send then.
func (s *Service) Mount(ctl *controller.Server, snd *Sender, c *Collector) {
	ctl.HandleFunc("GET /api/dmarc/domains", controller.Read, s.HandleDomains)
	ctl.HandleFunc("GET /api/dmarc/summary", controller.Read, s.HandleSummary)
	ctl.HandleFunc("GET /api/dmarc/reports", controller.Read, s.HandleReports)
	ctl.HandleFunc("POST /api/dmarc/reports", controller.Admin, s.HandleUpload)
	if snd != nil {
		ctl.HandleFunc("POST /api/dmarc/send", controller.Admin, snd.HandleSend(c))
	}
	ctl.HandleFunc("GET /dmarc", controller.Read, func(w http.ResponseWriter, r *http.Request) {
		admin := controller.WhoFrom(r).Level >= controller.Admin
		ctl.RenderHTML(w, r, http.StatusOK, "DMARC reports", s.Page(r, admin, controller.CSRFToken(r)))
	})
	ctl.AddMenu("DMARC", "/dmarc", controller.Read)
}
