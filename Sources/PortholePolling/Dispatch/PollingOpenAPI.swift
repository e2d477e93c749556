/// `GET /v1/openapi.json`: the dispatch API described by hand (OpenAPI 3.1).
enum PollingOpenAPI {
    static let document = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Porthole dispatch API",
    "version": "1",
    "description": "Call Halibut polling agents connected to Porthole. Typed values are MongoDB Extended JSON v2 (canonical or relaxed); objects passed where .NET declares `object` need `$type` as their first key. DataStreams: a parameter {\"$dataStream\": {\"base64\": \"...\"}} or {\"$dataStream\": {\"file\": \"/path\"}}; a result stream comes back as {\"$dataStream\": {\"length\": {\"$numberLong\": \"n\"}, \"base64\": \"...\"}}. Authentication: 'Authorization: Bearer <token>' when [admin].token_file is set."
  },
  "paths": {
    "/v1/agents": {
      "get": {
        "summary": "Agents connected now",
        "responses": {
          "200": {"description": "One entry per agent connection", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AgentList"}}}},
          "401": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/v1/agents/{subscription}/calls": {
      "post": {
        "summary": "Queue a call for the subscription and wait for the agent's response",
        "parameters": [{
          "name": "subscription", "in": "path", "required": true,
          "description": "The subscription id (abc for poll://abc/) or the percent-encoded URI",
          "schema": {"type": "string"}
        }],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallRequest"}}}},
        "responses": {
          "200": {"description": "The agent answered (its answer may be an error)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallResponse"}}}},
          "400": {"$ref": "#/components/responses/Problem"},
          "401": {"$ref": "#/components/responses/Problem"},
          "502": {"$ref": "#/components/responses/Problem"},
          "503": {"$ref": "#/components/responses/Problem"},
          "504": {"$ref": "#/components/responses/Problem"}
        }
      }
    },
    "/v1/openapi.json": {
      "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}}
    }
  },
  "components": {
    "responses": {
      "Problem": {"description": "RFC 9457 problem details", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    },
    "schemas": {
      "AgentList": {
        "type": "object",
        "properties": {"agents": {"type": "array", "items": {"$ref": "#/components/schemas/Agent"}}}
      },
      "Agent": {
        "type": "object",
        "properties": {
          "subscription": {"type": "string", "examples": ["poll://abcdefghij0123456789/"]},
          "thumbprint": {"type": "string", "pattern": "^[0-9A-F]{40}$"},
          "remoteAddress": {"type": "string"},
          "transport": {"type": "string", "enum": ["raw", "websocket"]},
          "connectedSince": {"type": "string", "format": "date-time"},
          "lastActivity": {"type": "string", "format": "date-time"},
          "inFlight": {"type": "integer", "minimum": 0, "maximum": 1}
        }
      },
      "CallRequest": {
        "type": "object",
        "required": ["service", "method"],
        "properties": {
          "service": {"type": "string", "examples": ["IEchoService"]},
          "method": {"type": "string", "examples": ["SayHello"]},
          "params": {"type": "array", "description": "One Extended JSON value per method argument", "items": {}},
          "timeout": {"type": "string", "description": "How long the call may wait for an agent to collect it (default [polling].collection_timeout)", "examples": ["30s", "2m"]}
        }
      },
      "CallResponse": {
        "type": "object",
        "properties": {
          "id": {"type": "string"},
          "result": {"description": "Extended JSON v2 (canonical); null for void or on error"},
          "error": {
            "oneOf": [
              {"type": "null"},
              {"type": "object", "properties": {"message": {"type": "string"}, "details": {"type": ["string", "null"]}, "halibutErrorType": {"type": ["string", "null"]}}}
            ]
          }
        }
      },
      "Problem": {
        "type": "object",
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"}}
      }
    }
  }
}

"""#
}
