// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause

// The scrape benchmark's peer: client_golang (Debian's, built in GOPATH
// mode) serving the series the benchmark makes emitd serve, from memory:
// one CounterVec bench_requests_total{route="/r/0".."/r/<N-1>"}, each at 1,
// as demo-target --events N --routes N leaves them. Text, OpenMetrics and
// gzip are client_golang's own content negotiation (promhttp.HandlerFor).
//
//	peer -listen 127.0.0.1:PORT -series N
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:19479", "address to listen on")
	series := flag.Int("series", 10000, "series of bench_requests_total")
	value := flag.Float64("value", 1, "value of each series")
	flag.Parse()

	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "bench",
		Name:      "requests_total",
		Help:      "Requests by route.",
	}, []string{"route"})
	reg.MustRegister(requests)
	for k := 0; k < *series; k++ {
		requests.WithLabelValues("/r/" + strconv.Itoa(k)).Add(*value)
	}

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	log.Printf("peer: %d series on %s", *series, *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
