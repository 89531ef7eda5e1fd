{{- define "portcullis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "portcullis.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "portcullis.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "portcullis.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "portcullis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "portcullis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "portcullis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "portcullis.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "portcullis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "portcullis.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "portcullis.tlsSecretName" -}}
{{- if eq .Values.certificates.mode "selfManaged" }}
{{- printf "%s-certs" (include "portcullis.fullname" .) }}
{{- else if eq .Values.certificates.mode "existingSecret" }}
{{- required "certificates.existingSecret.name is required in existingSecret mode" .Values.certificates.existingSecret.name }}
{{- else }}
{{- printf "%s-tls" (include "portcullis.fullname" .) }}
{{- end }}
{{- end }}

{{- define "portcullis.serviceName" -}}
{{- include "portcullis.fullname" . }}
{{- end }}

{{/* The names the serving certificate is for: the Service's, and the host of webhook.url. */}}
{{- define "portcullis.tlsHosts" -}}
{{- $svc := include "portcullis.serviceName" . }}
{{- $ns := .Release.Namespace }}
{{- $hosts := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) }}
{{- if .Values.webhook.url }}
{{- $hosts = append $hosts (urlParse .Values.webhook.url).hostname }}
{{- end }}
{{- join "," $hosts }}
{{- end }}

{{/* The answer deadline: one second inside the API server's timeout. */}}
{{- define "portcullis.answerDeadline" -}}
{{- max 1 (sub (int .Values.webhook.timeoutSeconds) 1) }}
{{- end }}

{{/* Generated CA and serving certificate, reused from the existing Secret across upgrades. */}}
{{- define "portcullis.generatedCerts" -}}
{{- $secretName := include "portcullis.tlsSecretName" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName }}
{{- if and $existing $existing.data (index $existing.data "ca.crt") }}
{{- $_ := set . "portcullisCerts" (dict "ca" (index $existing.data "ca.crt") "cert" (index $existing.data "tls.crt") "key" (index $existing.data "tls.key")) }}
{{- else if not (hasKey . "portcullisCerts") }}
{{- $svc := include "portcullis.serviceName" . }}
{{- $ca := genCA (printf "%s-ca" $svc) (int .Values.certificates.generate.validityDays) }}
{{- $dns := list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) }}
{{- $cert := genSignedCert (printf "%s.%s.svc" $svc .Release.Namespace) (list "127.0.0.1") $dns (int .Values.certificates.generate.validityDays) $ca }}
{{- $_ := set . "portcullisCerts" (dict "ca" ($ca.Cert | b64enc) "cert" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc)) }}
{{- end }}
{{- end }}

{{/* caBundle for the webhook configurations (empty in certManager mode: the CA injector fills it). */}}
{{- define "portcullis.caBundle" -}}
{{- if eq .Values.certificates.mode "generate" }}
{{- include "portcullis.generatedCerts" . }}
{{- .portcullisCerts.ca }}
{{- else if eq .Values.certificates.mode "existingSecret" }}
{{- required "certificates.existingSecret.caBundle is required in existingSecret mode" .Values.certificates.existingSecret.caBundle }}
{{- end }}
{{- end }}

{{- define "portcullis.webhookAnnotations" -}}
{{- if eq .Values.certificates.mode "certManager" }}
cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "portcullis.fullname" .) }}
{{- end }}
{{- end }}

{{/* Called with (dict "root" $ "path" "/validate"). */}}
{{- define "portcullis.clientConfig" -}}
{{- $root := .root }}
{{- $ca := include "portcullis.caBundle" $root }}
{{- if $root.Values.webhook.url }}
url: {{ printf "%s%s" (trimSuffix "/" $root.Values.webhook.url) .path | quote }}
{{- else }}
service:
  name: {{ include "portcullis.serviceName" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ .path | quote }}
  port: {{ $root.Values.service.port }}
{{- end }}
{{- if $ca }}
caBundle: {{ $ca }}
{{- end }}
{{- end }}

{{- define "portcullis.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        - kube-system
        - {{ .Release.Namespace }}
        {{- range .Values.webhook.excludeNamespaces }}
        - {{ . }}
        {{- end }}
    {{- with .Values.webhook.namespaceSelectorExpressions }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
