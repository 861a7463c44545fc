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

{{/* The webhook's own CA (cert-manager without issuerRef): its Certificate, Secret and CA Issuer. */}}
{{- define "tagwarden.webhookCAName" -}}
{{- printf "%s-webhook-ca" (include "tagwarden.fullname" .) }}
{{- end }}

{{/*
The Certificate whose CA cert-manager's injector puts into the webhook configurations'
caBundle (cert-manager.io/inject-ca-from). With the chart's own CA: the CA Certificate
itself, so the caBundle is the trust root and changes only with it, never when the
webhook's certificate is renewed. With an issuerRef: the webhook's Certificate, whose
Secret's ca.crt is that issuer's CA (the only place the chart can learn it from).
*/}}
{{- define "tagwarden.webhookInjectFrom" -}}
{{- if .Values.webhook.certManager.issuerRef }}
{{- printf "%s/%s-webhook" .Release.Namespace (include "tagwarden.fullname" .) }}
{{- else }}
{{- printf "%s/%s" .Release.Namespace (include "tagwarden.webhookCAName" .) }}
{{- end }}
{{- end }}

{{/*
Fails the render when a value asks for an object of a custom resource the cluster does
not serve: an explicit "enabled" must not silently render nothing (no ServiceMonitor means
no metrics and no alerts, with nothing to say so). Argument: a dict with "root" (the
context), "api" (group/version/Kind), "value" (the value that asked) and "from" (what
installs the CRD). `helm template` knows no cluster: pass --api-versions.
*/}}
{{- define "tagwarden.requireAPI" -}}
{{- if not (.root.Capabilities.APIVersions.Has .api) }}
{{- fail (printf "%s=true needs the API %s, which the cluster does not serve: install %s first, or set %s=false; with helm template, pass --api-versions %s" .value .api .from .value .api) }}
{{- end }}
{{- end }}

{{/*
The leader-election Lease: named after the release (its full name), so that two releases
in one namespace never share one. serve gets it as TAGWARDEN_LEASE_NAME; the Role grants
get/update/patch on this name only.
*/}}
{{- define "tagwarden.leaseName" -}}
{{- include "tagwarden.fullname" . }}
{{- end }}
