package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hamlet-mail/hamlet/config/duration"
	"github.com/hamlet-mail/hamlet/greylist"
	"github.com/hamlet-mail/hamlet/store"
)

// Client talks to a running daemon's controller, for `hamlet greylist
// list | allow | drop` and `hamlet why`.
type Client struct {
	// BaseURL is the controller, e.g. "http://127.0.0.1:11334".
	BaseURL string
	// HTTP is the client to use (default: one with a 10 s timeout).
	HTTP *http.Client
	// Password, when set, is sent in a "Password" header, as rspamd's
	// controller expects it.
	Password string
}

// GreylistList fetches the greylist and allowlist entries.
func (c *Client) GreylistList(ctx context.Context, limit int) (greylist.Listing, error) {
	u := "/api/greylist"
	if limit > 0 {
		u += "?limit=" + strconv.Itoa(limit)
	}
	var l greylist.Listing
	return l, c.do(ctx, http.MethodGet, u, nil, http.StatusOK, &l)
}

// Allow allowlists target for ttl (0: for ever).
func (c *Client) Allow(ctx context.Context, target, reason string, ttl time.Duration) (store.AllowEntry, error) {
	req := allowRequest{Target: target, Reason: reason}
	if ttl > 0 {
		b, _ := duration.Duration(ttl).MarshalText()
		req.TTL = string(b)
	}
	var e store.AllowEntry
	return e, c.do(ctx, http.MethodPost, "/api/greylist/allow", req, http.StatusCreated, &e)
}

// Drop removes an entry; it reports false when none existed.
func (c *Client) Drop(ctx context.Context, key string) (bool, error) {
	err := c.do(ctx, http.MethodDelete, "/api/greylist/"+url.PathEscape(key), nil, http.StatusNoContent, nil)
	var he *HTTPError
	if errors.As(err, &he) && he.Code == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}

// Get fetches path and decodes its JSON answer into out.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, http.StatusOK, out)
}

// HTTPError is an error answer of the controller.
type HTTPError struct {
	Code    int
	Message string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("controller: %d: %s", e.Code, e.Message) }

func (c *Client) do(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Password != "" {
		req.Header.Set("Password", c.Password)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if resp.StatusCode != want {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return &HTTPError{Code: resp.StatusCode, Message: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("controller: bad reply: %w", err)
	}
	return nil
}
