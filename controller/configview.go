package controller

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/hamlet-mail/hamlet/engine"
)

// ConfigItem is one line of the configuration view.
type ConfigItem struct {
	Section, Key, Value string
}

type configData struct {
	Thresholds []ConfigItem
	Force      []ConfigItem
	Symbols    []symRow
	Items      map[string][]ConfigItem
	Sections   []string
}

type symRow struct {
	Name, Group, Description string
	Weight, Default          float64
	Changed                  bool
}

func (s *Server) configPage(w http.ResponseWriter, r *http.Request) {
	e := s.src.Engine()
	p := e.Policy()
	d := configData{Items: map[string][]ConfigItem{}}
	for a := engine.Greylist; a <= engine.Reject; a++ {
		v := "off"
		if t, ok := p.Thresholds[a]; ok {
			v = strconv.FormatFloat(t, 'f', -1, 64)
		}
		d.Thresholds = append(d.Thresholds, ConfigItem{"actions", a.String(), v})
	}
	for name, a := range p.Force {
		d.Force = append(d.Force, ConfigItem{"force", name, a.String()})
	}
	sort.Slice(d.Force, func(i, j int) bool { return d.Force[i].Key < d.Force[j].Key })
	for _, def := range e.Symbols() {
		row := symRow{Name: def.Name, Group: def.Group, Description: def.Description, Weight: def.Weight, Default: def.Weight}
		if w, ok := p.Weights[def.Name]; ok {
			row.Weight, row.Changed = w, w != def.Weight
		}
		d.Symbols = append(d.Symbols, row)
	}
	sort.Slice(d.Symbols, func(i, j int) bool {
		if d.Symbols[i].Group != d.Symbols[j].Group {
			return d.Symbols[i].Group < d.Symbols[j].Group
		}
		return d.Symbols[i].Name < d.Symbols[j].Name
	})
	if s.src.Config != nil {
		for _, it := range s.src.Config() {
			if _, ok := d.Items[it.Section]; !ok {
				d.Sections = append(d.Sections, it.Section)
			}
			d.Items[it.Section] = append(d.Items[it.Section], it)
		}
	}
	s.render(w, r, http.StatusOK, "config", "Configuration", d)
}
