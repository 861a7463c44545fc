{{/* The chart's name, or nameOverride. */}}
{{- define "tagwarden.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of every object: the release name, plus the chart's unless it already contains it. */}}
{{- define "tagwarden.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tagwarden.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "tagwarden.labels" -}}
helm.sh/chart: {{ include "tagwarden.chart" . }}
{{ include "tagwarden.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the Pods: never change them, a Deployment's selector is immutable. */}}
{{- define "tagwarden.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tagwarden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tagwarden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tagwarden.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image: repository:tag, with @digest when one is pinned. Only values decide it, never
the cluster's version: `tagwarden check` of the rendered chart is the same at every version.
*/}}
{{- define "tagwarden.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- if not (hasPrefix "sha256:" .Values.image.digest) }}
{{- fail (printf "image.digest must be sha256:<64 hex digits>, not %q" .Values.image.digest) }}
{{- end }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* TAGWARDEN_LISTEN: HOST:PORT, an IPv6 host in brackets. */}}
{{- define "tagwarden.listen" -}}
{{- if contains ":" (toString .Values.server.host) }}
{{- printf "[%s]:%d" .Values.server.host (int .Values.server.port) }}
{{- else }}
{{- printf "%s:%d" .Values.server.host (int .Values.server.port) }}
{{- end }}
{{- end }}

{{/* TAGWARDEN_WEBHOOK_LISTEN: the same host as the endpoints, on the webhook's port. */}}
{{- define "tagwarden.webhookListen" -}}
{{- if contains ":" (toString .Values.server.host) }}
{{- printf "[%s]:%d" .Values.server.host (int .Values.webhook.port) }}
{{- else }}
{{- printf "%s:%d" .Values.server.host (int .Values.webhook.port) }}
{{- end }}
{{- end }}

{{/* The Secret (kubernetes.io/tls) the webhook's certificate and key are in. */}}
{{- define "tagwarden.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "tagwarden.fullname" .) }}
{{- end }}

{{/* Where the webhook's Secret is mounted in the container. */}}
{{- define "tagwarden.webhookTLSDir" -}}
/etc/tagwarden/webhook-tls
{{- end }}
