#!/usr/bin/env bash
# Writes tls-secret.yaml: a self-signed certificate for demo.example.com and its key as a
# kubernetes.io/tls Secret. Made on your machine, never committed (.gitignore).
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj /CN=demo.example.com -addext subjectAltName=DNS:demo.example.com \
  -keyout "$tmp/tls.key" -out "$tmp/tls.crt" 2>/dev/null
cat > tls-secret.yaml <<YAML
apiVersion: v1
kind: Secret
metadata: { name: demo-tls, namespace: default }
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$tmp/tls.crt")
  tls.key: $(base64 -w0 "$tmp/tls.key")
YAML
chmod 600 tls-secret.yaml
echo "wrote $(pwd)/tls-secret.yaml"
