package daemon

import (
	"context"
	"net/netip"
	"time"

	"github.com/hamlet-mail/hamlet/controller"
	"github.com/hamlet-mail/hamlet/dmarcreport"
	"github.com/hamlet-mail/hamlet/dns"
	"github.com/hamlet-mail/hamlet/engine"
	"github.com/hamlet-mail/hamlet/store"
)

// currentResolver is the resolver in force (a reload replaces it).
type currentResolver struct{ d *Daemon }

func (c currentResolver) r() dns.Resolver { return c.d.resolver.Load() }
func (c currentResolver) LookupTXT(ctx context.Context, n string) ([]string, error) {
	return c.r().LookupTXT(ctx, n)
}
func (c currentResolver) LookupA(ctx context.Context, n string) ([]netip.Addr, error) {
	return c.r().LookupA(ctx, n)
}
func (c currentResolver) LookupAAAA(ctx context.Context, n string) ([]netip.Addr, error) {
	return c.r().LookupAAAA(ctx, n)
}
func (c currentResolver) LookupMX(ctx context.Context, n string) ([]dns.MX, error) {
	return c.r().LookupMX(ctx, n)
}
func (c currentResolver) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error) {
	return c.r().LookupPTR(ctx, ip)
}

// openDMARCReports starts the received-report service and its filter-flow
// reader when the store keeps reports (both stores do).
func (d *Daemon) openDMARCReports(s *Settings) {
	st, ok := d.store.(store.DMARCReports)
	if !ok {
		return
	}
	d.dmarcReports = dmarcreport.New(st, currentResolver{d}, s.DMARCReports, d.log)
	d.dmarcInbox = dmarcreport.NewInbox(d.dmarcReports)
	d.dmarcCollector = dmarcreport.NewCollector(d.store, s.DMARCReports.Send)
	d.dmarcSender = dmarcreport.NewSender(d.store, currentResolver{d}, s.DMARCReports.Send, s.AuthServID(), d.log)
}

// startDMARCSender sends due reports in the background until ctx ends
// (it does nothing while [dmarc.reports.send] is off), writes the
// collector's counts every few seconds, and removes the received reports
// past their retention every hour.
func (d *Daemon) startDMARCSender(ctx context.Context) {
	if d.dmarcSender != nil {
		go d.dmarcSender.Run(ctx)
		go d.dmarcCollector.Run(ctx)
	}
	if d.dmarcReports != nil {
		go d.dmarcReports.RunSweeper(ctx, time.Hour)
	}
}

// dmarcObservers are the engine observers of the DMARC report features,
// with s's configuration.
func (d *Daemon) dmarcObservers(s *Settings) []engine.Observer {
	if d.dmarcInbox == nil {
		return nil
	}
	d.dmarcInbox.SetConfig(s.DMARCReports)
	d.dmarcCollector.SetConfig(s.DMARCReports.Send)
	d.dmarcSender.SetConfig(s.DMARCReports.Send)
	return []engine.Observer{d.dmarcInbox}
}

// mountDMARCReports puts the reports' API and page on the controller.
func (d *Daemon) mountDMARCReports(ctl *controller.Server) {
	if d.dmarcReports != nil {
		d.dmarcReports.Mount(ctl, d.dmarcSender, d.dmarcCollector)
	}
}

// closeDMARCReports finishes reading the report mails queued and writes
// the report counts still in memory, before the store closes.
func (d *Daemon) closeDMARCReports() {
	if d.dmarcInbox != nil {
		d.dmarcInbox.Close()
	}
	if d.dmarcCollector != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.dmarcCollector.Sync(ctx); err != nil {
			d.log.Warn("dmarc reports: writing the last counts", "err", err)
		}
	}
}
