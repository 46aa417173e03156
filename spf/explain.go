package spf

// explain computes the explanation for a fail of rec (RFC 7208 §6.2):
// the TXT record at exp='s expanded target, itself macro-expanded. Any
// problem (DNS error, no or several records, bad syntax, non-ASCII)
// falls back to the default explanation. The exp lookup does not count
// against the limits.
func (e *evaluator) explain(rec *Record) string {
	if rec.Exp != nil {
		if s, ok := e.expText(rec.Exp); ok {
			return s
		}
	}
	def := e.c.DefaultExplanation
	if def == "" {
		def = DefaultExplanation
	}
	ms, err := parseMacroString(def, true)
	if err != nil {
		return def
	}
	return ms.expand(&e.env)
}

func (e *evaluator) expText(m *Modifier) (string, bool) {
	name, ok := queryName(m.value.expand(&e.env))
	if !ok {
		return "", false
	}
	txts, err := e.txt(name)
	if err != nil || len(txts) != 1 {
		return "", false
	}
	for i := 0; i < len(txts[0]); i++ {
		if txts[0][i] > 0x7e {
			return "", false // §6.2: US-ASCII only
		}
	}
	ms, err := parseMacroString(txts[0], true)
	if err != nil {
		return "", false
	}
	return ms.expand(&e.env), true
}
