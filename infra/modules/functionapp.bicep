// The monitor itself: a Python 3.12 function app on a Flex Consumption (FC1) plan.
// Its name comes from the caller and never changes, so neither does its hostname, and the
// actor's configured URL survives every redeploy. It acts as one user-assigned identity
// for everything: host storage, the deployment package, its table, telemetry and email.

param name string

param planName string

param location string

param tags object

@description('Resource ID of the user-assigned identity the app runs as.')
param identityId string

@description('Client ID of that identity, for AZURE_CLIENT_ID and the identity-based connections.')
param identityClientId string

param storageAccountName string

param deploymentContainerUrl string

param applicationInsightsName string

@description('Most instances Flex may scale out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('The monitor settings (LVMBEAT_*), set by main.bicep from its parameters.')
param monitorSettings object

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  // checkov:skip=CKV_AZURE_225:Flex zone redundancy exists only in some regions; the monitor keeps no state in the instance, and the watcher alerts catch a regional outage.
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    // Linux.
    reserved: true
  }
}

// Settings the Functions host and the Azure SDKs read. Flex Consumption refuses the
// legacy runtime settings (FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION,
// WEBSITE_RUN_FROM_PACKAGE, WEBSITE_CONTENTSHARE, ...): runtime and package live in
// functionAppConfig below instead.
var platformSettings = {
  // Host storage by identity: no AzureWebJobsStorage connection string exists.
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // With local auth disabled on the component, the connection string only says where
  // telemetry goes; ingestion needs an Entra token for the identity named here.
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // DefaultAzureCredential in the monitor (tables, ACS email) picks this identity.
  AZURE_CLIENT_ID: identityClientId
}

// Every app setting the app gets. Bicep owns the whole list: a setting added by hand in
// the portal is removed by the next deployment, so changes belong in main.bicepparam.
var appSettings = union(platformSettings, monitorSettings)

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    // checkov:skip=CKV_AZURE_222:The monitor exists to be reached from LCO over the public internet; its writing routes need a function key.
    // checkov:skip=CKV_AZURE_17:The actor authenticates with a function key, and /status must stay open for the availability test.
    // checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero per request and per timer run; App Service instance minimums do not apply.
    // checkov:skip=CKV_AZURE_213:Flex Consumption has no App Service health check; the availability test on /status and the watcher alerts do that job.
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.12'
      }
    }
  }
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
