// An independent Workload API client built on go-spiffe: prints what it fetched as JSON lines.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

type svidOut struct {
	ID       string `json:"id"`
	Certs    int    `json:"certs"`
	Serial   string `json:"serial"`
	NotAfter string `json:"notAfter"`
	Verified string `json:"verified"`
	Error    string `json:"error,omitempty"`
}

type out struct {
	Event   string              `json:"event"`
	SVIDs   []svidOut           `json:"svids,omitempty"`
	Bundles map[string][]string `json:"bundles,omitempty"`
	Error   string              `json:"error,omitempty"`
}

func bundles(set *x509bundle.Set) map[string][]string {
	m := map[string][]string{}
	for _, b := range set.Bundles() {
		for _, c := range b.X509Authorities() {
			sum := sha256.Sum256(c.Raw)
			m[b.TrustDomain().IDString()] = append(m[b.TrustDomain().IDString()], hex.EncodeToString(sum[:]))
		}
	}
	return m
}

func describe(ctx *workloadapi.X509Context) out {
	o := out{Event: "x509context", Bundles: bundles(ctx.Bundles)}
	for _, s := range ctx.SVIDs {
		so := svidOut{ID: s.ID.String(), Certs: len(s.Certificates), Serial: s.Certificates[0].SerialNumber.Text(16), NotAfter: s.Certificates[0].NotAfter.UTC().Format(time.RFC3339)}
		// Path validation against the bundle the Workload API gave us.
		id, _, err := x509svid.Verify(s.Certificates, ctx.Bundles)
		if err != nil {
			so.Error = err.Error()
		} else {
			so.Verified = id.String()
		}
		o.SVIDs = append(o.SVIDs, so)
	}
	return o
}

func emit(o out) {
	b, _ := json.Marshal(o)
	fmt.Println(string(b))
}

type watcher struct {
	left int
	done chan struct{}
}

func (w *watcher) OnX509ContextUpdate(c *workloadapi.X509Context) {
	emit(describe(c))
	w.left--
	if w.left == 0 {
		close(w.done)
	}
}

func (w *watcher) OnX509ContextWatchError(err error) {
	if w.left <= 0 {
		return // closing after the last update
	}
	emit(out{Event: "error", Error: err.Error()})
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: spiffeclient fetch|bundles|watch N unix:///path")
		os.Exit(2)
	}
	mode := os.Args[1]
	addr := os.Args[len(os.Args)-1]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := workloadapi.New(ctx, workloadapi.WithAddr(addr))
	if err != nil {
		emit(out{Event: "error", Error: err.Error()})
		os.Exit(1)
	}
	defer client.Close()
	switch mode {
	case "fetch":
		c, err := client.FetchX509Context(ctx)
		if err != nil {
			emit(out{Event: "error", Error: err.Error()})
			os.Exit(1)
		}
		emit(describe(c))
	case "bundles":
		set, err := client.FetchX509Bundles(ctx)
		if err != nil {
			emit(out{Event: "error", Error: err.Error()})
			os.Exit(1)
		}
		emit(out{Event: "bundles", Bundles: bundles(set)})
	case "watch":
		n, _ := strconv.Atoi(os.Args[2])
		w := &watcher{left: n, done: make(chan struct{})}
		go func() {
			_ = client.WatchX509Context(ctx, w)
		}()
		select {
		case <-w.done:
		case <-ctx.Done():
			emit(out{Event: "error", Error: "timed out"})
			os.Exit(1)
		}
	}
}
