package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hamlet-mail/hamlet/dns/dnstest"
)

// The learning curve's rows on generated mail: nothing learned is the
// engine without Bayes, which acts on exactly the spam whose X-Mailer is
// an Outlook Express its Message-Id belies (FORGED_MUA_OUTLOOK 3.0 +
// OLD_X_MAILER 2.0) and on no ham; 20 of each learned, Bayes catches the
// generated spam (its words differ) and hits no ham, and the engine acts
// on it.
func TestCurveRows(t *testing.T) {
	srv, err := dnstest.NewServer("")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := fmt.Sprintf("hostname = \"mx.eval.test\"\n[dns]\nservers = [%q]\ntimeout = \"200ms\"\n", srv.Addr())
	c := split("generated", generatedMail(60), []int{0, 20})
	if c.testSpam != 30 || c.testHam != 30 || len(c.trainSpam) != 30 || len(c.trainHam) != 30 {
		t.Fatalf("split: %d+%d tested, %d+%d to train", c.testSpam, c.testHam, len(c.trainSpam), len(c.trainHam))
	}
	if fmt.Sprint(c.sizes) != "[0 20 30]" {
		t.Fatalf("rows %v, want [0 20 30] (the whole pool last)", c.sizes)
	}
	dir := t.TempDir()
	learned, bayesLine, engineLine, err := curveRow(dir, base, c, 0)
	if err != nil {
		t.Fatal(err)
	}
	forged := 0
	for _, x := range c.test {
		if v, _ := x.tx.Message.First("X-Mailer"); x.spam && strings.HasPrefix(v, "Microsoft Outlook Express") {
			forged++
		}
	}
	if want := fmt.Sprintf("%d/30 %.1f%% | 0/30", forged, pct(forged, 30)); learned != "0+0" || bayesLine != "(no Bayes)" || engineLine != want {
		t.Errorf("nothing learned: %q %q %q, want engine %q", learned, bayesLine, engineLine, want)
	}
	learned, bayesLine, engineLine, err = curveRow(dir, base, c, 20)
	if err != nil {
		t.Fatal(err)
	}
	var caught, hit, acted, ham int
	fmt.Sscanf(bayesLine, "%d/30", &caught)
	fmt.Sscanf(bayesLine[strings.Index(bayesLine, "|")+2:], "%d/30", &hit)
	fmt.Sscanf(engineLine, "%d/30", &acted)
	fmt.Sscanf(engineLine[strings.Index(engineLine, "|")+2:], "%d/30", &ham)
	if learned != "20+20" || caught < 27 || hit != 0 || acted < 27 || ham != 0 {
		t.Errorf("20+20 learned: %q, Bayes %q, engine %q", learned, bayesLine, engineLine)
	}
	t.Logf("0+0 → 20+20: Bayes %s; engine %s", bayesLine, engineLine)
}
