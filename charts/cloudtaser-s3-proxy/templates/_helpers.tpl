{{/* Names, labels and the values that several templates derive. */}}
{{- define "cloudtaser-s3-proxy.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cloudtaser-s3-proxy.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cloudtaser-s3-proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cloudtaser-s3-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: injector
{{- end -}}

{{- define "cloudtaser-s3-proxy.labels" -}}
{{ include "cloudtaser-s3-proxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "cloudtaser-s3-proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cloudtaser-s3-proxy.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cloudtaser-s3-proxy.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "cloudtaser-s3-proxy.sidecarImage" -}}
{{- $repository := default .Values.image.repository .Values.sidecar.image.repository -}}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.sidecar.image.tag -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}

{{/* native on clusters with native sidecars on by default (1.29+), unless set explicitly. */}}
{{- define "cloudtaser-s3-proxy.sidecarMode" -}}
{{- if eq .Values.sidecar.mode "auto" -}}
{{- if semverCompare ">=1.29.0-0" .Capabilities.KubeVersion.Version -}}native{{- else -}}container{{- end -}}
{{- else if has .Values.sidecar.mode (list "native" "container") -}}
{{- .Values.sidecar.mode -}}
{{- else -}}
{{- fail (printf "sidecar.mode must be auto, native or container, got %q" .Values.sidecar.mode) -}}
{{- end -}}
{{- end -}}

{{- define "cloudtaser-s3-proxy.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" -}}
{{- required "tls.secretName is required when tls.mode=secret" .Values.tls.secretName -}}
{{- else -}}
{{- printf "%s-tls" (include "cloudtaser-s3-proxy.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "cloudtaser-s3-proxy.serviceHost" -}}
{{- printf "%s.%s.svc" (include "cloudtaser-s3-proxy.fullname" .) .Release.Namespace -}}
{{- end -}}
