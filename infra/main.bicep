// lvmbeat external monitor: everything it needs in one resource group.
//
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam
//
// Every name derives from the resource group, so a redeploy updates the same resources
// and the function app keeps its hostname; the actor's configured URL never changes.
// No key or connection string is created, passed or output: the app reaches storage,
// telemetry and email with its managed identity. The few secrets that no identity can
// replace (a Slack bot token, a webhook signing secret, an SMTP relay's password) live
// in the monitor's Key Vault, set there by an operator, and reach the app as Key Vault
// references; none is a parameter or an output. See docs/deploy.md.

@description('Region for the regional resources; defaults to the resource group region. Must offer Flex Consumption.')
param location string = resourceGroup().location

@description('Function app name, which fixes its hostname (<name>.azurewebsites.net). Keep it once the actor is configured.')
@minLength(2)
@maxLength(60)
param functionAppName string = 'func-lvmbeat-${uniqueString(resourceGroup().id)}'

@description('Who gets the outage emails and the watcher alerts: plain addresses.')
@minLength(1)
param emailRecipients array

@description('Reply-To for the outage emails; empty for none.')
param emailReplyTo string = ''

@description('Site name used in email subjects and bodies (LVMBEAT_SITE_NAME).')
param siteName string = 'LCO'

@description('Seconds without a heartbeat before the outage email (LVMBEAT_SEND_EMAIL_AFTER).')
@minValue(30)
param sendEmailAfterSeconds int = 300

@description('Timer schedule of the check, six-field NCRONTAB with seconds first (LVMBEAT_CHECK_SCHEDULE).')
param checkSchedule string = '*/30 * * * * *'

@description('Table that holds the monitor state (LVMBEAT_TABLE_NAME).')
@minLength(3)
@maxLength(63)
param tableName string = 'lvmbeat'

@description('How the monitor sends email: acs (Azure Communication Services, by managed identity, no password) or smtp (a relay whose password the app reads from Key Vault secret smtp-password).')
@allowed([
  'acs'
  'smtp'
])
param emailBackend string = 'acs'

@description('SMTP relay host (LVMBEAT_EMAIL_HOST), when emailBackend is smtp.')
param smtpHost string = ''

@description('SMTP relay port (LVMBEAT_EMAIL_PORT), STARTTLS, when emailBackend is smtp.')
@minValue(1)
@maxValue(65535)
param smtpPort int = 587

@description('SMTP user name (LVMBEAT_EMAIL_USERNAME), when emailBackend is smtp.')
param smtpUsername string = ''

@description('Sender address the SMTP relay accepts (LVMBEAT_EMAIL_FROM_ADDRESS), when emailBackend is smtp.')
param smtpFromAddress string = ''

@description('Post alerts to Slack. Set the slack-token secret in the vault before turning this on (docs/deploy.md).')
param slackEnabled bool = false

@description('Slack channel the alerts go to (LVMBEAT_SLACK_CHANNEL).')
param slackChannel string = 'lvm-alerts'

@description('Put on Slack alerts and reminders, not on all-clears (LVMBEAT_SLACK_MENTIONS).')
param slackMentions string = '@here'

@description('URL that gets one JSON POST per notice (LVMBEAT_WEBHOOK_URL); empty for no webhook.')
param webhookUrl string = ''

@description('Sign the webhook POSTs with the webhook-secret secret from the vault (LVMBEAT_WEBHOOK_SECRET). Set that secret first.')
param webhookSigned bool = false

@description('Seconds between "still down" reminders while an outage lasts (LVMBEAT_REMIND_EVERY); 0 is off.')
@minValue(0)
param remindEverySeconds int = 0

@description('Where Azure Communication Services keeps email data at rest.')
param emailDataLocation string = 'United States'

@description('''Role that lets the app identity send email through ACS. The default is the built-in
"Communication and Email Service Owner", granted on the one ACS resource only. Pass the ID
of a narrower custom role here if the subscription has one (docs/deploy.md).''')
param emailSenderRoleId string = '09976791-48a7-449e-bb21-39d1a415f350'

@description('Name of the monitor timer function, as it appears in the requests telemetry.')
param timerFunctionName string = 'check'

@description('Watcher: alert when the timer has not completed successfully for this many minutes.')
@minValue(5)
@maxValue(1440)
param watcherWindowMinutes int = 15

@description('Watcher: alert when the timer fails at least this many times in that window.')
@minValue(1)
param watcherFailureThreshold int = 3

@description('Watcher alert rules on or off, e.g. off until the code is first published.')
param watcherEnabled bool = true

@description('Probe /status from several Azure regions and alert when it fails.')
param availabilityTestEnabled bool = true

@description('Most instances Flex Consumption may scale the monitor out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each Flex Consumption instance. The monitor does milliseconds of work per call, and Flex bills every call at the instance size (docs/cost.md): 512 MB costs a quarter of the 2,048 MB default.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 512

param tags object = {
  project: 'lvmbeat'
  component: 'external-monitor'
}

var token = uniqueString(resourceGroup().id)

// The settings the monitor reads in Azure (function_app/lvmbeat_monitor/settings.py,
// SET_BY_INFRA). tests/infra checks that this list and SET_BY_INFRA agree.
var monitorSettings = {
  LVMBEAT_CHECK_SCHEDULE: checkSchedule
  LVMBEAT_SEND_EMAIL_AFTER: string(sendEmailAfterSeconds)
  LVMBEAT_SITE_NAME: siteName
  LVMBEAT_TABLE_ENDPOINT: storage.outputs.tableEndpoint
  LVMBEAT_TABLE_NAME: tableName
  LVMBEAT_EMAIL_BACKEND: emailBackend
  LVMBEAT_ACS_ENDPOINT: email.outputs.endpoint
  LVMBEAT_EMAIL_RECIPIENTS: join(emailRecipients, ',')
  LVMBEAT_EMAIL_FROM_ADDRESS: (emailBackend == 'smtp') ? smtpFromAddress : email.outputs.senderAddress
  LVMBEAT_EMAIL_REPLY_TO: emailReplyTo
}

// Settings of the optional channels, present only when that channel is on. A secret is
// a Key Vault reference, `@Microsoft.KeyVault(VaultName=...;SecretName=...)`, which App
// Service resolves with the identity named in keyVaultReferenceIdentity
// (functionapp.bicep) and re-reads within 24 hours of a change ("Use Key Vault
// references as app settings",
// https://learn.microsoft.com/azure/app-service/app-service-key-vault-references).
// A reference that cannot be resolved reaches the app as its own text, so a secret's
// setting exists only when the operator has said the secret is in the vault (the
// parameters above); the secret names are the ones docs/deploy.md sets.
var slackSettings = slackEnabled ? {
  LVMBEAT_SLACK_TOKEN: '@Microsoft.KeyVault(VaultName=${vault.outputs.name};SecretName=slack-token)'
  LVMBEAT_SLACK_CHANNEL: slackChannel
  LVMBEAT_SLACK_MENTIONS: slackMentions
} : {}

var webhookSettings = empty(webhookUrl) ? {} : {
  LVMBEAT_WEBHOOK_URL: webhookUrl
}

var webhookSigningSettings = (!empty(webhookUrl) && webhookSigned) ? {
  LVMBEAT_WEBHOOK_SECRET: '@Microsoft.KeyVault(VaultName=${vault.outputs.name};SecretName=webhook-secret)'
} : {}

var smtpSettings = (emailBackend == 'smtp') ? {
  LVMBEAT_EMAIL_HOST: smtpHost
  LVMBEAT_EMAIL_PORT: string(smtpPort)
  LVMBEAT_EMAIL_USERNAME: smtpUsername
  LVMBEAT_EMAIL_PASSWORD: '@Microsoft.KeyVault(VaultName=${vault.outputs.name};SecretName=smtp-password)'
} : {}

var reminderSettings = (remindEverySeconds > 0) ? {
  LVMBEAT_REMIND_EVERY: string(remindEverySeconds)
} : {}

module identity 'modules/identity.bicep' = {
  name: 'lvmbeat-identity'
  params: {
    name: 'id-lvmbeat-${token}'
    location: location
    tags: tags
  }
}

module storage 'modules/storage.bicep' = {
  name: 'lvmbeat-storage'
  params: {
    name: 'stlvmbeat${token}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package'
    tableName: tableName
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'lvmbeat-monitoring'
  params: {
    logAnalyticsName: 'log-lvmbeat-${token}'
    applicationInsightsName: 'appi-lvmbeat-${token}'
    location: location
    tags: tags
  }
}

module email 'modules/email.bicep' = {
  name: 'lvmbeat-email'
  params: {
    emailServiceName: 'ecs-lvmbeat-${token}'
    communicationServiceName: 'acs-lvmbeat-${token}'
    dataLocation: emailDataLocation
    tags: tags
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'lvmbeat-keyvault'
  params: {
    name: 'kv-lvmbeat-${token}'
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
  }
}

module roles 'modules/roles.bicep' = {
  name: 'lvmbeat-roles'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    communicationServiceName: email.outputs.communicationServiceName
    emailSenderRoleId: emailSenderRoleId
    keyVaultName: vault.outputs.name
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'lvmbeat-functionapp'
  params: {
    name: functionAppName
    planName: 'plan-lvmbeat-${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    monitorSettings: union(monitorSettings, slackSettings, webhookSettings, webhookSigningSettings, smtpSettings, reminderSettings)
  }
  // The host starts reading storage as soon as the app exists; grant first.
  dependsOn: [
    roles
  ]
}

module watcher 'modules/watcher.bicep' = {
  name: 'lvmbeat-watcher'
  params: {
    namePrefix: 'lvmbeat-${token}'
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    recipients: emailRecipients
    timerFunctionName: timerFunctionName
    silenceMinutes: watcherWindowMinutes
    failureThreshold: watcherFailureThreshold
    enabled: watcherEnabled
    availabilityTestEnabled: availabilityTestEnabled
    baseUrl: 'https://${functionApp.outputs.defaultHostName}'
  }
}

@description('Function app name, for az functionapp commands.')
output functionAppName string = functionApp.outputs.name

@description('Base URL of the monitor: its routes sit at the site root.')
output baseUrl string = 'https://${functionApp.outputs.defaultHostName}'

@description('What the actor calls: outside_monitor.url (with the function key).')
output heartbeatUrl string = 'https://${functionApp.outputs.defaultHostName}/heartbeat'

@description('Anonymous status page.')
output statusUrl string = 'https://${functionApp.outputs.defaultHostName}/status'

@description('Sender of the outage emails.')
output emailSenderAddress string = email.outputs.senderAddress

@description('The vault the operator puts the Slack token, webhook secret or SMTP password in (docs/deploy.md).')
output vaultName string = vault.outputs.name

@description('Client ID of the app identity (an identifier, not a secret).')
output identityClientId string = identity.outputs.clientId
