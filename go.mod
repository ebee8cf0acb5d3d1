module ptrule

go 1.26.0

require (
	cel.dev/cel-go v0.33.2 // indirect
	github.com/nikoksr/notify v1.3.0 // indirect
	github.com/prometheus/procfs v0.23.0 // indirect
	github.com/rogpeppe/go-internal v1.16.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
