// Who watches the watcher. The monitor can only report LCO going silent while its own
// timer runs; if the timer stops (app stopped, bad deploy, lost storage role) or keeps
// failing, nobody would ever hear. Azure Monitor, which does not depend on the app,
// emails the same people when the timer has not completed successfully for a while,
// when it fails repeatedly, when /status stops answering, and when a notice the monitor
// decided to send has not gone out ("alerts are not getting out").

param namePrefix string

param location string

param tags object

param applicationInsightsId string

@description('Addresses the alerts go to (plain addresses, no display names).')
param recipients array

@description('Name of the timer function as it appears in the requests telemetry.')
param timerFunctionName string

@description('Alert when the timer has not completed successfully for this many minutes.')
@minValue(5)
@maxValue(1440)
param silenceMinutes int

@description('Alert when the timer fails at least this many times within silenceMinutes.')
@minValue(1)
param failureThreshold int

@description('Turn the alert rules off, e.g. before the code is first published.')
param enabled bool

@description('Also probe /status from several Azure regions with a standard availability test.')
param availabilityTestEnabled bool

@description('https://<defaultHostName> of the function app.')
param baseUrl string

// Email receivers of an action group are mailed by Azure Monitor itself, not through
// the monitor's ACS resource, its identity or its code, so these alerts still arrive
// when the monitor's own mail path is what broke. Keep it that way: no webhook, Logic
// App or Function receiver that would lead back into the app (tests/infra checks).
resource alertEmail 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-alerts'
  location: 'global'
  tags: tags
  properties: {
    // The short name appears in the email subject; at most 12 characters.
    groupShortName: 'lvmbeat'
    enabled: true
    emailReceivers: [for (address, index) in recipients: {
      name: 'recipient-${index}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
  }
}

// Each timer invocation is one row of `requests` whose operation name is the function
// name ("Analyze Azure Functions telemetry in Application Insights",
// https://learn.microsoft.com/azure/azure-functions/analyze-telemetry-data). A check that
// cannot do its job (storage unreadable, a bad setting, a send that failed) raises, so
// its row has success == false: it counts towards timer-failing and never as a success
// for timer-silent. Raising does not disturb the schedule: a failed timer run is not
// retried before its next occurrence (timer trigger reference, "Retry behavior").
//
// A summarize without "by" returns one row even when no request matched, so a timer
// that never ran at all counts as zero successes and the rule fires.
var silenceQuery = '''
requests
| where operation_Name =~ '{0}'
| summarize succeeded = countif(success == true)
| where succeeded == 0
'''

var failureQuery = '''
requests
| where operation_Name =~ '{0}' and success == false
| summarize failed = count()
| where failed >= {1}
'''

// The monitor logs a line starting with this marker, at ERROR, on every check while a
// notice (alert or all-clear) has stayed undelivered for more than three check periods.
// It is UNDELIVERED_MARKER in function_app/lvmbeat_monitor/service.py; tests/infra
// checks that the two agree. Logs from function code land in `traces` (same page as
// above: "traces: Logs created by the runtime and traces from your function code").
var undeliveredMarker = 'NOTICE UNDELIVERED'

var undeliveredQuery = '''
traces
| where message startswith_cs '{0}'
| summarize lines = count()
| where lines > 0
'''

resource timerSilent 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-timer-silent'
  location: location
  tags: tags
  properties: {
    displayName: 'lvmbeat monitor: timer ${timerFunctionName} silent for ${silenceMinutes} min'
    description: 'The external monitor has not completed a check for ${silenceMinutes} minutes, so it cannot notice LCO going offline. See docs/deploy.md.'
    severity: 1
    enabled: enabled
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT${silenceMinutes}M'
    criteria: {
      allOf: [
        {
          query: format(silenceQuery, timerFunctionName)
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        alertEmail.id
      ]
    }
  }
}

resource timerFailing 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-timer-failing'
  location: location
  tags: tags
  properties: {
    displayName: 'lvmbeat monitor: timer ${timerFunctionName} failing'
    description: 'The external monitor check failed at least ${failureThreshold} times in ${silenceMinutes} minutes. See docs/deploy.md.'
    severity: 2
    enabled: enabled
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT${silenceMinutes}M'
    criteria: {
      allOf: [
        {
          query: format(failureQuery, timerFunctionName, failureThreshold)
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        alertEmail.id
      ]
    }
  }
}

// The alarm people need most: the monitor knows LCO is down (or back) but cannot tell
// anyone. Evaluated every 5 minutes over 10, so lines that reach Log Analytics a few
// minutes late are still seen; it resolves itself once the notice is out and the lines
// stop.
resource noticeUndelivered 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-notice-undelivered'
  location: location
  tags: tags
  properties: {
    displayName: 'lvmbeat monitor: alerts are not getting out'
    description: 'The external monitor decided to send an outage alert or all-clear and has not delivered it for more than three checks. /status names the failing channel and its last_error. See docs/deploy.md.'
    severity: 1
    enabled: enabled
    scopes: [
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT10M'
    criteria: {
      allOf: [
        {
          query: format(undeliveredQuery, undeliveredMarker)
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        alertEmail.id
      ]
    }
  }
}

resource statusProbe 'Microsoft.Insights/webtests@2022-06-15' = if (availabilityTestEnabled) {
  name: '${namePrefix}-status'
  location: location
  // Links the test to the component so it shows under its Availability blade.
  tags: union(tags, {
    'hidden-link:${applicationInsightsId}': 'Resource'
  })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: '${namePrefix}-status'
    Name: 'lvmbeat monitor /status'
    Enabled: enabled
    Frequency: 300
    Timeout: 30
    Kind: 'standard'
    RetryEnabled: true
    Locations: [
      {
        Id: 'us-va-ash-azr'
      }
      {
        Id: 'us-ca-sjc-azr'
      }
      {
        Id: 'latam-br-gru-azr'
      }
      {
        Id: 'emea-nl-ams-azr'
      }
    ]
    Request: {
      RequestUrl: '${baseUrl}/status'
      HttpVerb: 'GET'
      ParseDependentRequests: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

resource statusDown 'Microsoft.Insights/metricAlerts@2018-03-01' = if (availabilityTestEnabled) {
  name: '${namePrefix}-status-down'
  location: 'global'
  tags: tags
  properties: {
    description: 'The monitor /status fails from at least two Azure regions. See docs/deploy.md.'
    severity: 1
    enabled: enabled
    scopes: [
      statusProbe.id
      applicationInsightsId
    ]
    evaluationFrequency: 'PT1M'
    windowSize: 'PT5M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: statusProbe.id
      componentId: applicationInsightsId
      failedLocationCount: 2
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: alertEmail.id
      }
    ]
  }
}

output actionGroupId string = alertEmail.id
