{{/* Common names and labels. */}}
{{- define "weft.fullname" -}}
{{- if contains "weft" .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}{{- else -}}{{ printf "%s-weft" .Release.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "weft.labels" -}}
app.kubernetes.io/name: weft
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "weft.selector" -}}
app.kubernetes.io/name: weft
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "weft.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The Weft kinds the operator and agents list and watch (src/kubernetes/watched-kinds.ts). */}}
{{- define "weft.watchRules" -}}
- apiGroups: ["gateway.networking.k8s.io"]
  resources: [gatewayclasses, gateways, listenersets, httproutes, grpcroutes, referencegrants, tlsroutes, backendtlspolicies]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [services, namespaces, configmaps]
  verbs: [list, watch]
- apiGroups: ["discovery.k8s.io"]
  resources: [endpointslices]
  verbs: [list, watch]
- apiGroups: ["networking.k8s.io"]
  resources: [ingresses, ingressclasses]
  verbs: [list, watch]
{{- end -}}

{{/*
Only TLS Secrets are listed (field selector type=kubernetes.io/tls); RBAC cannot narrow by field, so this grants
list/watch on all Secrets. The operator always has it; the agents only without mutualAuth (with it they read the
operator's copies in mutualAuth.tlsSecretsNamespace, and so cannot list the CA's root key).
*/}}
{{- define "weft.secretsRule" -}}
- apiGroups: [""]
  resources: [secrets]
  verbs: [list, watch]
{{- end -}}

{{/* The --ingress-* flags, identical for the operator and the agents (both compute Ingress addresses). */}}
{{- define "weft.ingressArgs" -}}
{{- with .Values.ingress.address }}
- --ingress-address={{ . }}
{{- end }}
{{- with .Values.ingress.dedicatedPool }}
- --ingress-dedicated-pool={{ . }}
{{- end }}
- --ingress-http-port={{ .Values.ingress.httpPort }}
- --ingress-https-port={{ .Values.ingress.httpsPort }}
- --ingress-default-mode={{ .Values.ingress.defaultMode }}
{{- end -}}

{{- define "weft.checkValues" -}}
{{- if and .Values.mutualAuth.enabled (eq .Values.mutualAuth.tlsSecretsNamespace .Release.Namespace) -}}
{{- fail "mutualAuth.tlsSecretsNamespace: the agents may list every Secret there, so it cannot be the release namespace (which holds the CA's root key)" -}}
{{- end -}}
{{- if and .Values.relay.enabled (not .Values.flows.enabled) -}}
{{- fail "relay.enabled: the relay merges the agents' flows; it needs flows.enabled" -}}
{{- end -}}
{{- if and .Values.relay.enabled (ne (empty .Values.flows.tls.agentSecretName) (empty .Values.flows.tls.relaySecretName)) -}}
{{- fail "flows.tls: with relay.enabled, set both agentSecretName and relaySecretName (mutual TLS) or neither (plaintext)" -}}
{{- end -}}
{{- end -}}
