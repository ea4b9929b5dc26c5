{{/* The chart name, overridable. */}}
{{- define "healbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: <release>-healbot unless the release name already holds it. */}}
{{- define "healbot.fullname" -}}
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

{{- define "healbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "healbot.labels" -}}
helm.sh/chart: {{ include "healbot.chart" . }}
{{ include "healbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: healbot
{{- end }}

{{- define "healbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "healbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "healbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "healbot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The port name /webhooks/alertmanager, /webhooks/argo and /metrics are served on. */}}
{{- define "healbot.internalPortName" -}}
{{- if .Values.config.internal.enabled }}internal{{ else }}http{{ end }}
{{- end }}

{{/* The Service port number of the same. */}}
{{- define "healbot.internalServicePort" -}}
{{- if .Values.config.internal.enabled }}{{ .Values.service.internalPort }}{{ else }}{{ .Values.service.port }}{{ end }}
{{- end }}

{{/* sandbox.appArmorProfile as the pre-1.30 annotation value. */}}
{{- define "healbot.appArmorAnnotation" -}}
{{- $p := .Values.sandbox.appArmorProfile -}}
{{- if eq $p.type "Localhost" }}localhost/{{ $p.localhostProfile }}{{ else if eq $p.type "RuntimeDefault" }}runtime/default{{ else }}unconfined{{ end }}
{{- end }}

{{- define "healbot.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Where secrets are mounted; one folder per secret reference. */}}
{{- define "healbot.secretsDir" -}}/etc/healbot/secrets{{- end }}

{{/* The Redis healbot uses: redis.url, else the chart's own Redis pod; empty without Redis. */}}
{{- define "healbot.redisUrl" -}}
{{- if .Values.redis.url -}}
{{- .Values.redis.url -}}
{{- else if .Values.redis.deploy.enabled -}}
{{- printf "redis://%s-redis:6379/0" (include "healbot.fullname" .) -}}
{{- end -}}
{{- end }}

{{/* Refuse combinations healbot would refuse at startup, or that lose work. */}}
{{- define "healbot.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not (include "healbot.redisUrl" .)) }}
{{- fail "replicaCount above 1 needs Redis (redis.url or redis.deploy.enabled): replicas share deliveries, work and the audit chain there" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) .Values.persistence.enabled }}
{{- fail "persistence.enabled is for a single replica: with several, the audit chain lives on Redis and each pod's state is an emptyDir" }}
{{- end }}
{{- if and .Values.redis.shareState (not (include "healbot.redisUrl" .)) }}
{{- fail "redis.shareState needs redis.url or redis.deploy.enabled" }}
{{- end }}
{{- if not .Values.secrets.webhook.existingSecret }}
{{- fail "secrets.webhook.existingSecret is required: healbot serve refuses to start without a webhook secret" }}
{{- end }}
{{- if empty .Values.secrets.webhook.keys }}
{{- fail "secrets.webhook.keys needs at least one key" }}
{{- end }}
{{- if .Values.config.github.appId }}
{{- if not .Values.config.prometheus.url }}
{{- fail "config.prometheus.url is required with config.github.appId" }}
{{- end }}
{{- if not .Values.secrets.githubApp.existingSecret }}
{{- fail "secrets.githubApp.existingSecret is required with config.github.appId" }}
{{- end }}
{{- end }}
{{- if and .Values.config.internal.enabled (eq (int .Values.config.internal.port) (int .Values.config.port)) }}
{{- fail "config.internal.port must differ from config.port: the internal listener is a second port" }}
{{- end }}
{{- range $route := list "alertmanager" "argo" }}
{{- $ref := index $.Values.secrets.inbound $route }}
{{- if and $ref.existingSecret (empty $ref.keys) }}
{{- fail (printf "secrets.inbound.%s.keys needs at least one key when existingSecret is set" $route) }}
{{- end }}
{{- end }}
{{- if and .Values.httpRoute.enabled (empty .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.parentRefs needs the Gateway to attach to" }}
{{- end }}
{{- if and .Values.notify.email.enabled (empty .Values.notify.email.to) }}
{{- fail "notify.email.to needs at least one address" }}
{{- end }}
{{- end }}

{{/* healbot.yaml, as rendered into the ConfigMap. */}}
{{- define "healbot.configFile" -}}
{{- $secrets := include "healbot.secretsDir" . -}}
{{- $cfg := dict
  "listen" (printf "0.0.0.0:%d" (int .Values.config.port))
  "state_dir" .Values.config.stateDir
  "canary_wait_seconds" (int .Values.config.canaryWaitSeconds)
  "repositories" (.Values.config.repositories | default (list))
-}}
{{- $files := list -}}
{{- range .Values.secrets.webhook.keys }}
{{- $files = append $files (printf "%s/webhook/%s" $secrets .) }}
{{- end }}
{{- $_ := set $cfg "webhook_secret_files" $files -}}
{{- if .Values.config.internal.enabled }}
{{- $_ := set $cfg "internal_listen" (printf "0.0.0.0:%d" (int .Values.config.internal.port)) -}}
{{- end }}
{{- $inbound := dict -}}
{{- range $route := list "alertmanager" "argo" }}
{{- $ref := index $.Values.secrets.inbound $route }}
{{- if $ref.existingSecret }}
{{- $tokenFiles := list -}}
{{- range $ref.keys }}
{{- $tokenFiles = append $tokenFiles (printf "%s/%s/%s" $secrets $route .) }}
{{- end }}
{{- $_ := set $inbound (printf "%s_token_files" $route) $tokenFiles -}}
{{- end }}
{{- end }}
{{- if $inbound }}
{{- $_ := set $cfg "inbound" $inbound -}}
{{- end }}
{{- if .Values.config.github.appId }}
{{- $_ := set $cfg "github" (dict
  "app_id" (int64 .Values.config.github.appId)
  "private_key_file" (printf "%s/github-app/%s" $secrets .Values.secrets.githubApp.key)
  "api_url" .Values.config.github.apiUrl) -}}
{{- end }}
{{- if .Values.config.prometheus.url }}
{{- $_ := set $cfg "prometheus" (dict "url" .Values.config.prometheus.url "timeout_seconds" (int .Values.config.prometheus.timeoutSeconds)) -}}
{{- end }}
{{- if .Values.config.logs }}
{{- $_ := set $cfg "logs" .Values.config.logs -}}
{{- end }}
{{- if .Values.config.catalog.content }}
{{- $_ := set $cfg "catalog" "/etc/healbot/catalog.yaml" -}}
{{- else if .Values.config.catalog.path }}
{{- $_ := set $cfg "catalog" .Values.config.catalog.path -}}
{{- end }}
{{- with include "healbot.redisUrl" . }}
{{- $_ := set $cfg "redis_url" . -}}
{{- end }}
{{- if or .Values.redis.shareState (gt (int .Values.replicaCount) 1) }}
{{- $_ := set $cfg "audit_on_redis" true -}}
{{- $_ := set $cfg "takeover_after_seconds" (int .Values.redis.takeoverAfterSeconds) -}}
{{- end }}
{{- if .Values.policies.enabled }}
{{- $_ := set $cfg "policies_dir" "/etc/healbot/policies" -}}
{{- end }}
{{- if .Values.templates.files }}
{{- $_ := set $cfg "templates_dir" "/etc/healbot/fix-templates" -}}
{{- end }}
{{- $notify := dict -}}
{{- with .Values.notify }}
{{- if .slack.enabled }}
{{- $_ := set $notify "slack" (dict "webhook_url_file" (printf "%s/slack/%s" $secrets .slack.key)) -}}
{{- end }}
{{- if .teams.enabled }}
{{- $_ := set $notify "teams" (dict "webhook_url_file" (printf "%s/teams/%s" $secrets .teams.key)) -}}
{{- end }}
{{- if .pagerduty.enabled }}
{{- $pd := dict "routing_key_file" (printf "%s/pagerduty/%s" $secrets .pagerduty.key) -}}
{{- if .pagerduty.apiUrl }}{{- $_ := set $pd "api_url" .pagerduty.apiUrl -}}{{- end }}
{{- $_ := set $notify "pagerduty" $pd -}}
{{- end }}
{{- if .email.enabled }}
{{- $email := dict "smtp_host" .email.smtpHost "smtp_port" (int .email.smtpPort) "tls" .email.tls "from" .email.from "to" .email.to -}}
{{- if .email.username }}
{{- $_ := set $email "username" .email.username -}}
{{- $_ := set $email "password_file" (printf "%s/email/%s" $secrets .email.key) -}}
{{- end }}
{{- $_ := set $notify "email" $email -}}
{{- end }}
{{- end }}
{{- if $notify }}
{{- $_ := set $cfg "notify" $notify -}}
{{- end }}
{{- $cfg = mergeOverwrite $cfg (.Values.config.extra | default (dict)) -}}
{{- toYaml $cfg }}
{{- end }}
