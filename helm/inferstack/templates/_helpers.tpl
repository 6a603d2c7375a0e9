{{/* Names and labels shared by every template. */}}
{{- define "inferstack.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "inferstack.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "inferstack.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "inferstack.labels" -}}
app.kubernetes.io/name: {{ include "inferstack.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "inferstack.gatewaySelector" -}}
app.kubernetes.io/name: {{ include "inferstack.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{/* vLLM resources: "<fullname>-vllm-<model>" (call with dict "root" $ "model" $m). */}}
{{- define "inferstack.vllmName" -}}
{{- printf "%s-vllm-%s" (include "inferstack.fullname" .root) .model.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "inferstack.vllmSelector" -}}
app.kubernetes.io/name: {{ include "inferstack.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: vllm
inferstack.io/model: {{ .model.name }}
{{- end -}}

{{- define "inferstack.secretName" -}}
{{- default (printf "%s-keys" (include "inferstack.fullname" .)) .Values.gateway.existingSecret -}}
{{- end -}}

{{/* Env var name holding a tenant's key inside the gateway pod. */}}
{{- define "inferstack.keyEnv" -}}
{{- printf "INFERSTACK_KEY_%s" (. | upper | replace "-" "_" | replace "." "_") -}}
{{- end -}}

{{/* One quota entry's limits, camelCase values -> the gateway's snake_case keys. */}}
{{- define "inferstack.limits" -}}
{{- range $from, $to := dict "requestsPerMinute" "requests_per_minute" "tokensPerMinute" "tokens_per_minute" "concurrentRequests" "concurrent_requests" "usdPerDay" "usd_per_day" "usdPerMonth" "usd_per_month" }}
{{- if hasKey $ $from }}
{{ $to }}: {{ index $ $from }}
{{- end }}
{{- end }}
{{- end }}
