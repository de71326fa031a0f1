// lvmbeat external monitor: everything it needs in one resource group.
//
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam
//
// Every name derives from the resource group, so a redeploy updates the same resources
// and the function app keeps its hostname; the actor's configured URL never changes.
// No key or connection string is created, passed or output: the app reaches storage,
// telemetry and email with its managed identity. See docs/deploy.md.

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
  LVMBEAT_EMAIL_BACKEND: 'acs'
  LVMBEAT_ACS_ENDPOINT: email.outputs.endpoint
  LVMBEAT_EMAIL_RECIPIENTS: join(emailRecipients, ',')
  LVMBEAT_EMAIL_FROM_ADDRESS: email.outputs.senderAddress
  LVMBEAT_EMAIL_REPLY_TO: emailReplyTo
}

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

module roles 'modules/roles.bicep' = {
  name: 'lvmbeat-roles'
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    communicationServiceName: email.outputs.communicationServiceName
    emailSenderRoleId: emailSenderRoleId
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
    monitorSettings: monitorSettings
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

@description('Client ID of the app identity (an identifier, not a secret).')
output identityClientId string = identity.outputs.clientId
