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

// Settings the Functions host and the Azure SDKs read. Flex Consumption deprecates the
// legacy runtime settings (FUNCTIONS_WORKER_RUNTIME, FUNCTIONS_EXTENSION_VERSION,
// WEBSITE_RUN_FROM_PACKAGE, WEBSITE_CONTENTSHARE, ...): runtime and package live in
// functionAppConfig below instead. Source: "Flex Consumption plan deprecations",
// https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
// (tests/infra/test_infra_flex.py holds that list and checks this template against it).
var platformSettings = {
  // Host storage by identity: no AzureWebJobsStorage connection string exists. The
  // host keeps its keys and the timer's schedule monitor (use_monitor) in blobs, and
  // writes its diagnostic events to tables: "Connecting to host storage with an
  // identity" lists Storage Table Data Contributor for "No extension (host only), with
  // support for diagnostic events" (roles.bicep grants it on the account),
  // https://learn.microsoft.com/azure/azure-functions/functions-reference#connecting-to-host-storage-with-an-identity
  // No queue URI: no trigger or extension of ours uses queues (the Flex timer quickstart,
  // Azure-Samples/functions-quickstart-python-azd-timer, enables queues only "for Durable
  // Functions and MCP trigger").
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  // With local auth disabled on the component, the connection string only says where
  // telemetry goes; ingestion needs an Entra token for the identity named here.
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // DefaultAzureCredential in the monitor (tables, ACS email) picks this identity.
  AZURE_CLIENT_ID: identityClientId
}

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
    // checkov:skip=CKV_AZURE_78:Flex Consumption has no FTP(S) at all; Microsoft lists siteConfig ftpsState among the Flex deprecations ("FTPS not supported") and ARM refuses a Flex site that sets it.
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the system-assigned identity unless this names
    // a user-assigned one; the app has none of the former, so without it no reference
    // would resolve ("Access vaults with a user-assigned identity",
    // https://learn.microsoft.com/azure/app-service/app-service-key-vault-references).
    keyVaultReferenceIdentity: identityId
    // Only properties that Flex Consumption accepts: nothing from the deprecation list
    // (alwaysOn, ftpsState, linuxFxVersion, functionAppScaleLimit, ...).
    siteConfig: {
      minTlsVersion: '1.2'
      http20Enabled: true
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

// Every app setting the app gets, as one `appsettings` config resource whose body is an
// object: values known only at run time (the storage endpoints, the telemetry address,
// module outputs in monitorSettings) are fine in a resource body, while a for-expression
// over them is Bicep error BCP178 ("Loop limits": loops need values known at the start
// of the deployment). This is the shape of Microsoft's Flex Consumption samples
// (Azure-Samples/azure-functions-flex-consumption-samples IaC/bicep/main.bicep passes
// `configs: [{ name: 'appsettings', properties: {...} }]` to the AVM web/site module,
// whose config/main.bicep declares `Microsoft.Web/sites/config` named 'appsettings').
// Bicep owns the whole list: a setting added by hand in the portal is removed by the
// next deployment, so changes belong in main.bicepparam.
// checkov applies its App Service 'web' config checks to every sites/config resource;
// this one is 'appsettings' (names and values only), so each is skipped below with what
// covers the concern instead.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13:Authentication is a site setting, not an app setting; the routes that write or send need a function key.
  // checkov:skip=CKV_AZURE_222:Public network access is a site property, skipped on the site with its reason.
  // checkov:skip=CKV_AZURE_63:HTTP logging is a 'web' config property; the app's requests and logs go to Application Insights.
  // checkov:skip=CKV_AZURE_65:Detailed error pages are a 'web' config property; the monitor answers JSON errors and logs the detail.
  // checkov:skip=CKV_AZURE_66:Failed request tracing is a 'web' config property; failed invocations are in Application Insights.
  // checkov:skip=CKV_AZURE_80:netFrameworkVersion is for .NET apps; this app runs Python (functionAppConfig.runtime).
  // checkov:skip=CKV_AZURE_88:Azure Files mounts are a 'web' config matter; Flex deploys from a blob container, no content share.
  parent: site
  name: 'appsettings'
  properties: union(platformSettings, monitorSettings)
}

output name string = site.name
output defaultHostName string = site.properties.defaultHostName
