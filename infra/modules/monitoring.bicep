// Where the monitor's own telemetry lands: a Log Analytics workspace and a workspace-based
// Application Insights component. Local (instrumentation-key) authentication is off, so only
// a caller holding Monitoring Metrics Publisher on the component can send telemetry; the
// connection string the app reads is then an address, not a credential.

param logAnalyticsName string

param applicationInsightsName string

param location string

param tags object

@description('Days the workspace keeps the monitor logs.')
@minValue(30)
@maxValue(730)
param retentionDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionDays
    features: {
      disableLocalAuth: true
    }
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
  }
}

output applicationInsightsName string = appInsights.name
output applicationInsightsId string = appInsights.id
output workspaceId string = workspace.id
